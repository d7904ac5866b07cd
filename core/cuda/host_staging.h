#pragma once
// Host-to-device copies that never make the host wait.
//
// cudaMemcpyAsync from pageable memory may wait for the stream before it
// stages the bytes, so every upload goes through page-locked staging blocks:
// the host copies the bytes into a free block, queues cudaMemcpyAsync from it
// on `stream` and records the block's event after it. A block is free again
// once its event has completed, which the next upload asks with
// cudaEventQuery (never a wait); when none is free a new block is made. The
// source may be reused as soon as upload_async returns.
//
// Blocks are kept per device for the life of the process (like the caching
// allocator's): a training loop reaches a steady state with a handful of them.
#include <cstddef>

#include <cuda_runtime_api.h>

namespace sono::cuda {

void upload_async(void* dst, const void* src, size_t bytes, int device, cudaStream_t stream);

struct StagingStats {
  size_t blocks = 0;  // page-locked blocks made so far
  size_t bytes = 0;   // their total size
};
StagingStats staging_stats(int device);

}  // namespace sono::cuda
