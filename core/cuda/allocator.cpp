#include "core/cuda/allocator.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/allocator.h"
#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/host_staging.h"
#include "core/cuda/runtime.h"
#include "core/error.h"
#include "core/host_sync.h"

namespace sono::cuda {

namespace {

constexpr size_t kSmallLimit = size_t(1) << 20;
constexpr size_t kSmallRound = 512;
constexpr size_t kLargeRound = size_t(2) << 20;

size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }
size_t size_class(size_t bytes) {
  return bytes <= kSmallLimit ? round_up(bytes, kSmallRound) : round_up(bytes, kLargeRound);
}

std::string format_bytes(size_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

struct Block {
  size_t size;          // size class, the bytes cudaMalloc gave
  cudaStream_t stream;  // stream the block is used on; it is only reused on that stream
};

class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}

  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    const size_t size = size_class(bytes);
    cudaStream_t stream = current_stream(device_);
    std::lock_guard<std::mutex> lock(mutex_);
    void* ptr = nullptr;
    auto bin = free_.find({stream, size});
    if (bin != free_.end() && !bin->second.empty()) {
      // Safe without events: the previous user's kernels were queued on the
      // same stream, so they finish before anything queued from now on.
      ptr = bin->second.back();
      bin->second.pop_back();
    } else {
      ptr = device_malloc(bytes, size);
    }
    live_[ptr] = Block{size, stream};
    stats_.allocated += size;
    stats_.peak = std::max(stats_.peak, stats_.allocated);
    return ptr;
  }

  void deallocate(void* ptr, size_t) override {
    if (!ptr) return;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(ptr);
    if (it == live_.end()) {
      // Runs from destructors: report instead of throwing.
      std::fprintf(stderr, "sono: cuda:%d allocator: free of unknown pointer %p ignored\n", device_, ptr);
      return;
    }
    free_[{it->second.stream, it->second.size}].push_back(ptr);
    stats_.allocated -= it->second.size;
    live_.erase(it);
  }

  Device device() const override { return Device::cuda(device_); }

  MemoryStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak = stats_.allocated;
  }
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached();
  }

 private:
  // Mutex held. On failure the cache is returned to the driver and the
  // request retried once before giving up with a readable error.
  void* device_malloc(size_t requested, size_t size) {
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    cudaError_t err = cudaMalloc(&ptr, size);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // out-of-memory is not sticky; clear it before retrying
      release_cached();
      err = cudaMalloc(&ptr, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw Error(out_of_memory_message(requested, size));
    }
    SONO_CUDA_CHECK(err);
    stats_.reserved += size;
    stats_.device_mallocs += 1;
    return ptr;
  }

  // Mutex held.
  void release_cached() {
    DeviceGuard guard(device_);
    // Cached blocks may still be read by queued kernels; wait for them.
    SONO_CUDA_CHECK(cudaDeviceSynchronize());
    count_host_sync(HostSync::DeviceSync);
    for (auto& [key, ptrs] : free_) {
      for (void* p : ptrs) {
        SONO_CUDA_CHECK(cudaFree(p));
        stats_.reserved -= key.second;
      }
    }
    free_.clear();
  }

  std::string out_of_memory_message(size_t requested, size_t size) const {
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    return str_cat("cuda:", device_, " out of memory: tried to allocate ", format_bytes(requested), " (", requested,
                   " bytes, size class ", format_bytes(size), "); Sono holds ", format_bytes(stats_.allocated),
                   " in tensors, ", format_bytes(stats_.reserved), " reserved, peak ", format_bytes(stats_.peak),
                   "; the device has ", format_bytes(free_b), " free of ", format_bytes(total_b),
                   ". Lower the batch size or the image size.");
  }

  const int device_;
  std::mutex mutex_;
  std::map<std::pair<cudaStream_t, size_t>, std::vector<void*>> free_;  // bins: (stream, size class)
  std::unordered_map<void*, Block> live_;
  MemoryStats stats_;
};

// Allocators are created on first use and never destroyed: tensors owned by
// static objects may outlive any destruction order we could pick, and at
// process exit the CUDA runtime may already be unloaded, so the driver
// reclaims the memory instead.
CachingAllocator& caching_allocator(int device) {
  check_device(device);
  static std::mutex mutex;
  static std::vector<CachingAllocator*> allocators;
  std::lock_guard<std::mutex> lock(mutex);
  if (allocators.empty()) allocators.resize(size_t(device_count()), nullptr);
  CachingAllocator*& a = allocators[size_t(device)];
  if (!a) a = new CachingAllocator(device);
  return *a;
}

Allocator& allocator_factory(int device) { return caching_allocator(device); }

// To a device: returns at once (host_staging.h), the copy queued on the
// destination's stream. To the host: a read-back, waiting once for the stream
// (with `flag_src`, the device's check flag comes along in the same wait).
// Between two devices: waits for both streams.
void copy_between(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes, const int64_t* flag_src,
                  int64_t* flag_dst) {
  if (dst_dev.is_cuda()) check_device(dst_dev.index);
  if (src_dev.is_cuda()) check_device(src_dev.index);
  const int device = dst_dev.is_cuda() ? dst_dev.index : src_dev.index;
  DeviceGuard guard(device);
  cudaStream_t stream = current_stream(device);
  if (src_dev.is_cpu()) {
    upload_async(dst, src, bytes, device, stream);
    return;
  }
  if (dst_dev.is_cuda() && dst_dev.index == src_dev.index) {
    SONO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
    return;
  }
  if (dst_dev.is_cuda()) {
    synchronize(src_dev.index);  // the source was written on its own device's stream
    SONO_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_dev.index, src, src_dev.index, bytes, stream));
  } else {
    SONO_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
    if (flag_src)
      SONO_CUDA_CHECK(cudaMemcpyAsync(flag_dst, flag_src, 3 * sizeof(int64_t), cudaMemcpyDeviceToHost, stream));
  }
  SONO_CUDA_CHECK(cudaStreamSynchronize(stream));
  count_host_sync(HostSync::BlockingCopy);
}

const bool g_registered = [] {
  register_cuda_allocator_factory(&allocator_factory);
  register_cuda_copy(&copy_between);
  return true;
}();

}  // namespace

bool backend_registered() { return g_registered; }

MemoryStats memory_stats(int device) { return caching_allocator(device).stats(); }
void reset_peak_memory(int device) { caching_allocator(device).reset_peak(); }
void empty_cache(int device) { caching_allocator(device).empty_cache(); }

PinnedBuffer::PinnedBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes > 0) SONO_CUDA_CHECK(cudaHostAlloc(&data_, bytes, cudaHostAllocDefault));
}

PinnedBuffer::~PinnedBuffer() {
  if (data_) cudaFreeHost(data_);
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    if (data_) cudaFreeHost(data_);
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

}  // namespace sono::cuda
