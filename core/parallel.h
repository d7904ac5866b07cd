#pragma once
// When a loop is worth an OpenMP region: the one threshold of the CPU
// element loops (ops/cpu/*.cpp, core/kernels_cpu.cpp, optim/cpu/adamw.cpp).
//
// Measured with bench/bench_parallel.cpp (`sono_bench --benchmark_filter=^parallel/`,
// OMP_NUM_THREADS=2, the 2-core CI-like machine, shared, load average ~12,
// medians of single calls over 3 repetitions each):
//   an empty region (fork + join barrier): p50 0.6-1.4 us when both threads
//     have a core (p90 ~20 ms, a time slice, when another process holds one)
//   y = a + b in f32, the cheapest element op (0.11 ns per element serial):
//     serial vs 2 threads 0.95 vs 1.19 us at 8192 elements, 1.87 vs 1.61 us
//     at 16384, 3.74 vs 2.59 us at 32768
// so the region pays for itself from ~16k elements for the cheapest op; every
// costlier op (exp, Philox, AdamW's update) gains from there on.
// The threshold decides only how many threads compute: every kernel gives
// the same bits at any thread count (tests/ops/test_threads.cpp).
#include <cstdint>

namespace sono {

inline constexpr int64_t kParallelMinElements = 16384;

// Whether a loop over `elements` elements runs as an OpenMP region (the
// `if` clause of its pragma): one region per op, never per channel.
constexpr bool worth_parallel(int64_t elements) { return elements >= kParallelMinElements; }

}  // namespace sono
