#include "core/cuda/transfer.h"

#include <cstdio>
#include <exception>
#include <mutex>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/host_staging.h"
#include "core/cuda/runtime.h"

namespace sono::cuda {

namespace {

// One per device, created on first use and never destroyed (like the
// compute streams). Non-blocking: it never waits for the legacy stream.
cudaStream_t copy_stream(int device) {
  check_device(device);
  static std::mutex mutex;
  static std::vector<cudaStream_t> streams;
  std::lock_guard<std::mutex> lock(mutex);
  if (streams.empty()) streams.resize(size_t(device_count()), nullptr);
  cudaStream_t& s = streams[size_t(device)];
  if (!s) {
    DeviceGuard guard(device);
    SONO_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  }
  return s;
}

cudaEvent_t record(cudaStream_t stream) {
  cudaEvent_t e = nullptr;
  SONO_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  SONO_CUDA_CHECK(cudaEventRecord(e, stream));
  return e;
}

}  // namespace

void* upload_on_copy_stream(const std::vector<UploadItem>& items, int device) {
  cudaStream_t copy = copy_stream(device);
  DeviceGuard guard(device);
  // The destination blocks may have been freed by tensors that kernels queued
  // on the compute stream still read.
  cudaEvent_t allocated = record(current_stream(device));
  SONO_CUDA_CHECK(cudaStreamWaitEvent(copy, allocated, 0));
  SONO_CUDA_CHECK(cudaEventDestroy(allocated));  // released once the wait has passed
  for (const UploadItem& it : items) upload_async(it.dst, it.src, it.bytes, device, copy);
  return record(copy);
}

void order_after_upload(void* event, int device) noexcept {
  // Runs from destructors: report instead of throwing.
  try {
    DeviceGuard guard(device);
    auto e = static_cast<cudaEvent_t>(event);
    SONO_CUDA_CHECK(cudaStreamWaitEvent(current_stream(device), e, 0));
    SONO_CUDA_CHECK(cudaEventDestroy(e));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sono: cuda:%d upload: ordering the compute stream failed: %s\n", device, e.what());
  }
}

}  // namespace sono::cuda
