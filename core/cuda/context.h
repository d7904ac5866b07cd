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

}  // namespace sono::cuda
