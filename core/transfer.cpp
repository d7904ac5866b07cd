#include "core/transfer.h"

#include <utility>

#include "core/error.h"
#if SONO_WITH_CUDA
#include "core/cuda/transfer.h"
#endif

namespace sono {

Upload::Upload(const std::vector<Tensor>& host, Device device) : device_(device) {
  for (const Tensor& t : host)
    SONO_CHECK(!t.defined() || t.device().is_cpu(), "Upload", "expected host tensors, got ", t.describe());
  if (device.is_cpu()) {
    tensors_ = host;
    return;
  }
#if SONO_WITH_CUDA
  std::vector<cuda::UploadItem> items;
  for (const Tensor& t : host) {
    if (!t.defined()) {
      tensors_.emplace_back();
      continue;
    }
    Tensor src = t.contiguous();
    Tensor dst = Tensor::empty(t.shape(), t.dtype(), device);
    items.push_back({dst.raw_data(), src.raw_data(), size_t(src.numel()) * dtype_size(src.dtype())});
    tensors_.push_back(dst);
  }
  ready_ = cuda::upload_on_copy_stream(items, device.index);
#else
  throw_no_cuda_backend("upload to " + device.str());
#endif
}

Upload::~Upload() { order_compute_stream(); }

Upload::Upload(Upload&& o) noexcept
    : tensors_(std::move(o.tensors_)), device_(o.device_), ready_(std::exchange(o.ready_, nullptr)) {}

Upload& Upload::operator=(Upload&& o) noexcept {
  if (this != &o) {
    order_compute_stream();
    tensors_ = std::move(o.tensors_);
    device_ = o.device_;
    ready_ = std::exchange(o.ready_, nullptr);
  }
  return *this;
}

void Upload::order_compute_stream() {
  if (!ready_) return;
#if SONO_WITH_CUDA
  cuda::order_after_upload(ready_, device_.index);
#endif
  ready_ = nullptr;
}

std::vector<Tensor> Upload::take() {
  order_compute_stream();
  return std::move(tensors_);
}

}  // namespace sono
