#pragma once
// The CPU kernels' threads: one persistent pool (core/parallel.cpp) and the
// one threshold of the element loops (ops/cpu/*.cpp, core/kernels_cpu.cpp,
// optim/cpu/adamw.cpp; the GEMM and convolution paths size their jobs by
// multiply-adds instead).
//
// Why not OpenMP: an OpenMP region ends in a barrier that waits for every
// thread of the team to arrive, including one that has not started because
// another process holds its core. On a shared machine each of the thousands
// of short regions of a training step then waits for a time slice of the
// other process (docs/benchmarks.md, "Threads and contention"). Here the
// caller runs a job's chunks itself and waits only for chunks another thread
// has already claimed; a thread that arrives late finds nothing left and
// goes back to waiting.
//
// When a loop is worth a job: the work it halves must exceed the cost R of
// sharing it: n * c / 2 > R for n elements at c seconds each, n > 2R / c.
// kParallelMinElements was placed with libgomp's regions (bench/bench_parallel.cpp,
// 2-core EPYC: R = 9.8-11.7 us under OMP_WAIT_POLICY=PASSIVE; y = a + b costs
// c = 0.11 ns serial, y = x * sigmoid(x) with std::exp 3.4 ns), where 65536
// elements break even at c = 0.34 ns: every op doing more than a load, an add
// and a store per element (exp, division, f64 sums, Philox, AdamW) gains from
// there. The pool's empty job (parallel/pool) costs the caller 40-60 ns p50,
// since it runs the empty chunks itself before a worker wakes; sharing real
// work costs a sleeping worker's wake-up, which the threshold was not re-placed
// for. The threshold decides only how many threads compute: every kernel
// gives the same bits at any thread count (tests/ops/test_threads.cpp runs
// each above it at 1, 2 and 3 threads).
#include <cstdint>

namespace sono {

inline constexpr int64_t kParallelMinElements = 65536;

// Whether a loop over `elements` elements is split over the threads; a job
// spans the whole op, never one channel.
constexpr bool worth_parallel(int64_t elements) { return elements >= kParallelMinElements; }

// Chunk size for a loop of `iterations`: kParallelChunks chunks, taken by
// whichever thread is free. On a shared machine a thread whose core another
// process holds runs at a fraction of its speed; with chunks the others take
// over what it has not started. Every loop given this writes disjoint outputs
// per iteration (sums in a fixed order inside an iteration), so which thread
// runs a chunk never changes a bit of the result.
inline constexpr int64_t kParallelChunks = 32;
constexpr int64_t parallel_chunk(int64_t iterations) {
  return iterations / kParallelChunks > 1 ? iterations / kParallelChunks : 1;
}

// Threads the CPU kernels use, the calling one included. Read once from
// SONO_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs this process may run
// on (its affinity mask).
int num_threads();
// Changes it (tests, benchmarks); not while a parallel_for runs.
void set_num_threads(int threads);
// The calling thread's index within the current job: 0 for the caller (and
// outside any job), 1 .. num_threads() - 1 for the pool's workers. For
// per-thread scratch.
int this_worker();
// Whether the calling thread is running a chunk of a job split over the
// threads (where a nested parallel_for runs serially).
bool in_parallel();

namespace detail {
using ChunkFn = void (*)(const void* body, int64_t begin, int64_t end);
// Runs fn(body, begin, end) over [0, n) in chunks of `chunk` iterations.
void run_chunks(int64_t n, int64_t chunk, ChunkFn fn, const void* body);
}  // namespace detail

// body(begin, end) over [0, n) cut into chunks of `chunk` iterations (the
// last one shorter), each run by one thread, in no fixed order. Serial, in
// one call body(0, n), when there is one chunk, one thread, or the caller is
// already inside a job (no nesting) or another thread's job holds the pool.
// An exception thrown by body is rethrown here once every chunk has ended.
template <class F>
void parallel_for_chunks(int64_t n, int64_t chunk, const F& body) {
  if (n <= 0) return;
  detail::run_chunks(
      n, chunk, [](const void* b, int64_t begin, int64_t end) { (*static_cast<const F*>(b))(begin, end); }, &body);
}

// The element loops' form: chunks of parallel_chunk(n) when `parallel`
// (worth_parallel of the op's size, usually), else one serial call.
template <class F>
void parallel_for(int64_t n, bool parallel, const F& body) {
  parallel_for_chunks(n, parallel ? parallel_chunk(n) : n, body);
}

}  // namespace sono
