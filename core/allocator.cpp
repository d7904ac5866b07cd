#include "core/allocator.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "core/device_check.h"
#include "core/error.h"

namespace sono {

namespace {

std::atomic<size_t> g_cpu_allocated{0}, g_cpu_peak{0};

size_t rounded_size(size_t bytes) { return (bytes + 63) / 64 * 64; }

class CpuAllocator final : public Allocator {
 public:
  CpuAllocator() {
    // Keep freed activation buffers in the heap instead of returning them to
    // the kernel: with glibc's default mmap threshold every multi-MB tensor
    // is a fresh mmap whose pages the kernel must zero again on first touch
    // (about 10% of a large convolution's time).
    mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc refuses values above 32 MiB
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    // 64-byte alignment so vector loads never split cache lines.
    size_t rounded = rounded_size(bytes);
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw Error(str_cat("cpu allocator: out of memory allocating ", bytes, " bytes"));
    const size_t now = g_cpu_allocated.fetch_add(rounded, std::memory_order_relaxed) + rounded;
    size_t peak = g_cpu_peak.load(std::memory_order_relaxed);
    while (now > peak && !g_cpu_peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    return p;
  }
  void deallocate(void* ptr, size_t bytes) override {
    if (!ptr) return;
    std::free(ptr);
    g_cpu_allocated.fetch_sub(rounded_size(bytes), std::memory_order_relaxed);
  }
  Device device() const override { return Device::cpu(); }
};

Allocator& (*g_cuda_factory)(int) = nullptr;
CudaCopyFn g_cuda_copy = nullptr;

}  // namespace

Allocator& allocator_for(Device d) {
  static CpuAllocator cpu;
  if (d.is_cpu()) return cpu;
  if (!g_cuda_factory) throw_no_cuda_backend("allocate on " + d.str());
  return g_cuda_factory(d.index);
}

void register_cuda_allocator_factory(Allocator& (*factory)(int)) { g_cuda_factory = factory; }

CpuMemoryStats cpu_memory_stats() {
  return {g_cpu_allocated.load(std::memory_order_relaxed), g_cpu_peak.load(std::memory_order_relaxed)};
}

void reset_cpu_peak_memory() { g_cpu_peak.store(g_cpu_allocated.load(std::memory_order_relaxed)); }
void register_cuda_copy(CudaCopyFn copy) { g_cuda_copy = copy; }

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev.is_cpu() && src_dev.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  if (!g_cuda_copy) throw_no_cuda_backend(str_cat("copy ", src_dev.str(), " -> ", dst_dev.str()));
  if (dst_dev.is_cpu()) {
    int64_t flag[3] = {0, 0, 0};
    const int64_t* pending = pending_check_flag(src_dev);
    g_cuda_copy(dst, dst_dev, src, src_dev, bytes, pending, pending ? flag : nullptr);
    if (pending) resolve_device_checks(src_dev, flag);
    return;
  }
  g_cuda_copy(dst, dst_dev, src, src_dev, bytes, nullptr, nullptr);
}

Storage::Storage(size_t bytes, Device d) : bytes_(bytes), device_(d) {
  allocator_ = &allocator_for(d);
  data_ = allocator_->allocate(bytes);
}

Storage::~Storage() {
  if (data_) allocator_->deallocate(data_, bytes_);
}

}  // namespace sono
