#include "train/benchmark.h"

#include <malloc.h>

#include <fstream>
#include <string>
#include <vector>

#if SONO_WITH_CUDA
#include "core/cuda/allocator.h"
#endif

namespace sono {

namespace {

// A field of /proc/self/status in bytes ("VmRSS:  1234 kB"); 0 when absent.
size_t proc_status_bytes(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(f, line))
    if (line.compare(0, key.size(), key) == 0) return size_t(std::stoull(line.substr(key.size()))) * 1024;
  return 0;
}

}  // namespace

AdamW benchmark_optimizer(const model::MultiTaskModel& model) {
  ParamGroup g;
  g.name = "all";
  g.params = model.parameters();
  g.lr = g.initial_lr = 1e-4;
  return AdamW({g});
}

PeakMemory::PeakMemory(Device device) : device_(device) {
  if (device.is_cpu()) {
    malloc_trim(0);
    std::ofstream reset("/proc/self/clear_refs");
    reset << "5";  // resets VmHWM to the current VmRSS (Linux >= 4.0)
    reset.flush();
    base_ = proc_status_bytes("VmRSS");
    available_ = reset.good() && base_ > 0;
    return;
  }
#if SONO_WITH_CUDA
  cuda::reset_peak_memory(device.index);
  base_ = cuda::memory_stats(device.index).allocated;
  available_ = true;
#endif
}

size_t PeakMemory::peak_bytes() const {
  if (!available_) return 0;
  size_t peak = 0;
  if (device_.is_cpu()) {
    peak = proc_status_bytes("VmHWM");
  } else {
#if SONO_WITH_CUDA
    peak = cuda::memory_stats(device_.index).peak;
#endif
  }
  return peak > base_ ? peak - base_ : 0;
}

}  // namespace sono
