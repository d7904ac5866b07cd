#pragma once
// Tensors on their way from the host to a device, copied on the device's copy
// stream while its compute stream runs other work: the training loop starts
// batch n+1's copy before it queues step n (train/batch_prefetch.h).
//
// On CUDA the copies go through page-locked staging (core/cuda/host_staging.h)
// on a second stream. Two events order them, neither a host wait: the copy
// stream first waits for the work already queued on the compute stream (the
// destination blocks come from the compute stream's caching allocator, and a
// freed block may still be read by queued kernels), and take() makes the
// compute stream wait for the copies before anything that uses the tensors.
// On the CPU the tensors are handed through unchanged.
#include <vector>

#include "core/tensor.h"

namespace sono {

class Upload {
 public:
  Upload() = default;
  // Starts copying the CPU tensors `host` (undefined ones stay undefined) to
  // `device`; returns at once, and the host tensors may be dropped.
  Upload(const std::vector<Tensor>& host, Device device);
  // Without take(), the compute stream is still ordered after the copies, so
  // the destination memory goes back to the allocator safely.
  ~Upload();
  Upload(Upload&& o) noexcept;
  Upload& operator=(Upload&& o) noexcept;
  Upload(const Upload&) = delete;
  Upload& operator=(const Upload&) = delete;

  // The tensors on the device (in the order given), usable by any work queued
  // from now on. Once.
  std::vector<Tensor> take();

 private:
  void order_compute_stream();
  std::vector<Tensor> tensors_;
  Device device_;
  void* ready_ = nullptr;  // cuda: the event recorded after the copies
};

}  // namespace sono
