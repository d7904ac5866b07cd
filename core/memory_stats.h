#pragma once
// Counters of the CPU allocator (core/allocator.cpp): the bytes it has handed
// out and not yet taken back (64-byte rounded), and the highest such value
// since the last reset_cpu_memory_peak(). What the tensors of a graph hold,
// for memory measurements (bench/bench_memory.cpp).
#include <cstddef>

namespace sono {

struct CpuMemoryStats {
  size_t in_use = 0, peak = 0;
};
CpuMemoryStats cpu_memory_stats();
void reset_cpu_memory_peak();  // peak = in_use

}  // namespace sono
