#pragma once
// The caching allocator behind every cuda tensor, and pinned host memory.
//
// cudaMalloc/cudaFree synchronize the device and cost tens of microseconds,
// so freed blocks stay cached and are handed out again for requests of the
// same size class on the same stream. Size classes: multiples of 512 B up to
// 1 MiB, multiples of 2 MiB above. A training loop reaches a steady state in
// which no step calls cudaMalloc.
#include <cstddef>

namespace sono::cuda {

struct MemoryStats {
  size_t allocated = 0;       // bytes in blocks held by tensors (size-class rounded)
  size_t reserved = 0;        // bytes obtained from cudaMalloc: allocated + cached
  size_t peak = 0;            // highest `allocated` since start or reset_peak_memory
  size_t device_mallocs = 0;  // cudaMalloc calls so far (cache misses)
};

MemoryStats memory_stats(int device);
void reset_peak_memory(int device);
// Returns every cached (free) block of `device` to the driver.
void empty_cache(int device);

// Page-locked host memory: host<->device copies from it can run
// asynchronously and at full bus speed (for the data loader's batches).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes);
  ~PinnedBuffer();
  PinnedBuffer(PinnedBuffer&& o) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// True once this backend has registered its allocator and copy function with
// the core (at static initialization). Referencing it from a translation unit
// that is always linked keeps the registration in static-library builds.
bool backend_registered();

}  // namespace sono::cuda
