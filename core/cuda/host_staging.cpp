#include "core/cuda/host_staging.h"

#include <cstring>
#include <mutex>
#include <vector>

#include "core/cuda/allocator.h"
#include "core/cuda/check.h"
#include "core/cuda/runtime.h"

namespace sono::cuda {

namespace {

constexpr size_t kMinBlock = size_t(64) << 10;

struct Block {
  PinnedBuffer buffer;
  cudaEvent_t done = nullptr;  // recorded after the block's last copy
  bool used = false;           // done has been recorded at least once
};

class Staging {
 public:
  void upload(void* dst, const void* src, size_t bytes, int device, cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mutex_);
    DeviceGuard guard(device);
    Block& b = free_block(bytes);
    std::memcpy(b.buffer.data(), src, bytes);
    SONO_CUDA_CHECK(cudaMemcpyAsync(dst, b.buffer.data(), bytes, cudaMemcpyHostToDevice, stream));
    SONO_CUDA_CHECK(cudaEventRecord(b.done, stream));
    b.used = true;
  }

  StagingStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    StagingStats s;
    for (const Block* b : blocks_) ++s.blocks, s.bytes += b->buffer.bytes();
    return s;
  }

 private:
  // The smallest free block of at least `bytes`, else a new one. Mutex held.
  Block& free_block(size_t bytes) {
    Block* best = nullptr;
    for (Block* b : blocks_) {
      if (b->buffer.bytes() < bytes || (best && best->buffer.bytes() <= b->buffer.bytes())) continue;
      if (b->used) {
        const cudaError_t q = cudaEventQuery(b->done);
        if (q == cudaErrorNotReady) {
          cudaGetLastError();  // not an error: the block's copy is still queued
          continue;
        }
        SONO_CUDA_CHECK(q);
      }
      best = b;
    }
    if (best) return *best;
    size_t size = kMinBlock;
    while (size < bytes) size *= 2;
    auto* b = new Block{PinnedBuffer(size), nullptr, false};
    SONO_CUDA_CHECK(cudaEventCreateWithFlags(&b->done, cudaEventDisableTiming));
    blocks_.push_back(b);
    return *b;
  }

  std::mutex mutex_;
  std::vector<Block*> blocks_;  // never freed (see the header)
};

Staging& staging(int device) {
  check_device(device);
  static std::mutex mutex;
  static std::vector<Staging*> all;
  std::lock_guard<std::mutex> lock(mutex);
  if (all.empty()) all.resize(size_t(device_count()), nullptr);
  Staging*& s = all[size_t(device)];
  if (!s) s = new Staging();
  return *s;
}

}  // namespace

void upload_async(void* dst, const void* src, size_t bytes, int device, cudaStream_t stream) {
  if (bytes == 0) return;
  staging(device).upload(dst, src, bytes, device, stream);
}

StagingStats staging_stats(int device) { return staging(device).stats(); }

}  // namespace sono::cuda
