#pragma once
// Per-device state of the CUDA backend, created lazily on first use: the
// stream all of Sono's work on that device is queued on, cuBLAS and cuDNN
// handles bound to that stream, and a grow-only workspace for library calls
// that need scratch memory.
//
// The stream is a blocking stream (created with default flags), so it is also
// ordered with the legacy default stream: a stray launch without a stream
// cannot race with Sono's kernels.
#include <cstddef>
#include <memory>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

namespace sono::cuda {

cudaStream_t current_stream(int device);
cublasHandle_t cublas_handle(int device);
cudnnHandle_t cudnn_handle(int device);

// At least `bytes` of device scratch memory, valid for work queued on
// current_stream(device) until the next workspace() call for that device.
// Grows (through the caching allocator) and never shrinks.
void* workspace(int device, size_t bytes);

// Waits for all work queued on the device's stream.
void synchronize(int device);

// Host-side state a library keeps per device (ops/cuda/conv2d_cudnn.cu's
// cuDNN plans, optim/cuda/adamw.cu's pointer table). The device's context
// owns it, so reset_context() frees it with the handles.
class ContextCache {
 public:
  virtual ~ContextCache() = default;
};

// The cache of type C of `device`, made with C(device) on first use (under the
// context's lock: C's constructor must not call back into this header). The
// reference stays valid until reset_context(device). C does its own locking.
ContextCache& context_cache(int device, const void* tag, std::unique_ptr<ContextCache> (*make)(int device));
template <class C>
C& context_cache(int device) {
  static const char tag = 0;  // one address per C in the whole program
  return static_cast<C&>(
      context_cache(device, &tag, [](int d) -> std::unique_ptr<ContextCache> { return std::make_unique<C>(d); }));
}

// Context teardown: waits for the device's stream, then destroys its caches,
// its cuBLAS and cuDNN handles, and frees its workspace; the next use creates
// them again. The stream itself stays (cached memory blocks are tied to it).
// No other thread may use the device meanwhile. Contexts are otherwise never
// torn down (see allocator.cpp): the driver reclaims everything at exit.
void reset_context(int device);

}  // namespace sono::cuda
