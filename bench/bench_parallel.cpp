// What an OpenMP region costs against the work it splits, to place
// kParallelMinElements (core/parallel.h):
//   parallel/region/threads:T       an empty `omp parallel` region (fork, join barrier)
//   parallel/region_percentiles/threads:T  p10..p90 of 2000 single regions
//   parallel/<add|silu>/serial/n:N  y = a + b (memory-bound, the cheapest element op)
//                                   or y = x * sigmoid(x) (exp-bound) on one thread
//   parallel/<add|silu>/omp/n:N     the same loop as `omp parallel for simd`
//                                   over OMP_NUM_THREADS threads
// Each call is timed on its own; p50_ns (the median call) is what to compare:
// the mean includes the time slices lost when another process holds a core.
// The threshold is the smallest N where omp's median is below serial's for add.
// Run with repetitions on a shared machine and read the medians and spread:
//   OMP_NUM_THREADS=2 sono_bench --benchmark_filter='^parallel/' --benchmark_repetitions=5
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "bench/bench_support.h"

namespace {

using sono::str_cat;

void region(benchmark::State& state) {
  const int threads = omp_get_max_threads();
  int sink = 0;
  for (auto _ : state) {
#pragma omp parallel
    {
      if (omp_get_thread_num() == 0) sink += omp_get_num_threads();
    }
    benchmark::DoNotOptimize(sink);
  }
  state.counters["threads"] = threads;
}

// The distribution of single-region times (a shared machine's scheduler
// makes it bimodal: microseconds when every thread has a core, a time slice
// when one must wait): percentiles of 2000 regions per iteration, in ns.
void region_percentiles(benchmark::State& state) {
  std::vector<double> ns(2000);
  int sink = 0;
  for (auto _ : state) {
    for (double& t : ns) {
      const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
      {
        if (omp_get_thread_num() == 0) sink += omp_get_num_threads();
      }
      t = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    }
    benchmark::DoNotOptimize(sink);
  }
  std::sort(ns.begin(), ns.end());
  for (int p : {10, 25, 50, 75, 90}) state.counters[str_cat("p", p, "_ns")] = ns[ns.size() * size_t(p) / 100];
  state.counters["threads"] = omp_get_max_threads();
}

template <bool kSilu>
void element_loop(benchmark::State& state, bool parallel, int64_t n) {
  std::vector<float> a(static_cast<size_t>(n)), b(a), y(a);
  for (int64_t i = 0; i < n; ++i) {
    a[size_t(i)] = float(i % 97) * 0.01f - 0.4f;
    b[size_t(i)] = float(i % 89) * 0.02f;
  }
  const float *pa = a.data(), *pb = b.data();
  float* py = y.data();
  std::vector<double> calls;  // each call's time: the median is robust to time slices lost to other processes
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    // Separate loops, not one with an if clause: the serial one is then the
    // plain vectorized loop that an op below the threshold runs.
    if (kSilu && parallel) {
#pragma omp parallel for simd
      for (int64_t i = 0; i < n; ++i) py[i] = pa[i] / (1.0f + std::exp(-pa[i]));
    } else if (kSilu) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) py[i] = pa[i] / (1.0f + std::exp(-pa[i]));
    } else if (parallel) {
#pragma omp parallel for simd
      for (int64_t i = 0; i < n; ++i) py[i] = pa[i] + pb[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) py[i] = pa[i] + pb[i];
    }
    benchmark::DoNotOptimize(py);
    benchmark::ClobberMemory();
    calls.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(calls.begin(), calls.end());
  state.counters["p50_ns"] = calls[calls.size() / 2];
  state.counters["p50_ns_per_element"] = calls[calls.size() / 2] / double(n);
  state.counters["threads"] = parallel ? omp_get_max_threads() : 1;
}

const bool registered = [] {
  benchmark::RegisterBenchmark(str_cat("parallel/region/threads:", omp_get_max_threads()).c_str(), region)
      ->UseRealTime();
  benchmark::RegisterBenchmark(str_cat("parallel/region_percentiles/threads:", omp_get_max_threads()).c_str(),
                               region_percentiles)
      ->Iterations(1)
      ->UseRealTime();
  for (bool parallel : {false, true}) {
    const char* mode = parallel ? "omp" : "serial";
    for (int64_t n = 1 << 10; n <= 1 << 18; n *= 2) {
      benchmark::RegisterBenchmark(str_cat("parallel/add/", mode, "/n:", n).c_str(), element_loop<false>, parallel, n)
          ->UseRealTime();
      benchmark::RegisterBenchmark(str_cat("parallel/silu/", mode, "/n:", n).c_str(), element_loop<true>, parallel, n)
          ->UseRealTime();
    }
  }
  return true;
}();

}  // namespace
