#pragma once
// When a loop is worth an OpenMP region: the one threshold of the CPU
// element loops (ops/cpu/*.cpp, core/kernels_cpu.cpp, optim/cpu/adamw.cpp;
// the GEMM and convolution paths size their blocks by multiply-adds instead).
//
// A region pays when the work it halves exceeds its fork/join cost R:
// n * c / 2 > R for n elements at c seconds each on one thread, n > 2R / c.
// Measured with bench/bench_parallel.cpp on the 2-core machine CI-like runs
// use (shared, load average 11-15 during the runs; medians of single calls,
// 3 repetitions, spread within +-10% unless a time slice was lost):
//   R, an empty 2-thread region, p50 of 2000:
//     OMP_WAIT_POLICY=PASSIVE (what `sono` sets, docs/benchmarks.md): 9.8-11.7 us
//     libgomp's default (threads spin a while; ctest, sono_bench): 0.6-1.4 us
//   c, serial, f32: y = a + b 0.11 ns (memory-bound, the cheapest element op);
//     y = x * sigmoid(x) with std::exp 3.4 ns
//   measured crossover of a + b at 2 threads, default policy: between 8192
//     (0.95 us serial vs 1.19 us) and 16384 (1.83 vs 1.61 us) elements
// With R = 11 us (PASSIVE), 65536 elements break even at c = 0.34 ns: every
// op doing more than a load, an add and a store per element (exp, division,
// f64 sums, Philox, AdamW) gains from there; a plain add breaks even near
// 190k, and under the default policy the loss at 65536 is bounded by R ~ 1 us
// against 7 us of work. The threshold decides only how many threads compute:
// every kernel gives the same bits at any thread count (tests/ops/test_threads.cpp
// runs each above it at 1, 2 and 3 threads).
#include <cstdint>

namespace sono {

inline constexpr int64_t kParallelMinElements = 65536;

// Whether a loop over `elements` elements runs as an OpenMP region (the `if`
// clause of its pragma); the region spans the whole op, never one channel.
constexpr bool worth_parallel(int64_t elements) { return elements >= kParallelMinElements; }

// Chunk size for a loop of `iterations` shared with schedule(dynamic, ...):
// kParallelChunks chunks, taken by whichever thread is free. On a shared
// machine a thread whose core another process holds runs at a fraction of
// its speed; with a static split the whole region waits for its half, with
// chunks the other threads take over what it has not started (docs/benchmarks.md,
// "Threads and contention"). Every loop given this writes disjoint outputs per
// iteration (sums in a fixed order inside an iteration), so which thread runs
// a chunk never changes a bit of the result.
inline constexpr int64_t kParallelChunks = 32;
constexpr int64_t parallel_chunk(int64_t iterations) {
  return iterations / kParallelChunks > 1 ? iterations / kParallelChunks : 1;
}

}  // namespace sono
