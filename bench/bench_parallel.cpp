// What a parallel job costs against the work it splits, to place
// kParallelMinElements (core/parallel.h), for Sono's pool and for the OpenMP
// regions it replaced:
//   parallel/<pool|region>/threads:T       an empty job: parallel_for over T
//                                          chunks / an empty `omp parallel`
//   parallel/<pool|region>_percentiles/threads:T  p10..p90 of 2000 single ones
//   parallel/<add|silu>/serial/n:N  y = a + b (memory-bound, the cheapest element op)
//                                   or y = x * sigmoid(x) (exp-bound) on one thread
//   parallel/<add|silu>/<pool|omp>/n:N  the same loop split over T threads
// T is sono::num_threads() (SONO_NUM_THREADS or OMP_NUM_THREADS) for both.
// Each call is timed on its own; p50_ns (the median call) is what to compare:
// the mean includes the time slices lost when another process holds a core.
// The threshold is the smallest N where the pool's median is below serial's for add.
// Run with repetitions on a shared machine and read the medians and spread:
//   OMP_NUM_THREADS=2 sono_bench --benchmark_filter='^parallel/' --benchmark_repetitions=5
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "bench/bench_support.h"
#include "core/parallel.h"

namespace {

using sono::str_cat;

enum class Split { Serial, Pool, Omp };

// One empty job of each kind: T chunks that each add to their own slot.
void empty_job(Split how, int threads, std::vector<int64_t>& slots) {
  if (how == Split::Pool) {
    sono::parallel_for_chunks(threads, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) ++slots[size_t(i)];
    });
    return;
  }
#pragma omp parallel num_threads(threads)
  { ++slots[size_t(omp_get_thread_num())]; }
}

void job(benchmark::State& state, Split how) {
  const int threads = sono::num_threads();
  std::vector<int64_t> slots(static_cast<size_t>(threads));
  for (auto _ : state) {
    empty_job(how, threads, slots);
    benchmark::DoNotOptimize(slots.data());
  }
  state.counters["threads"] = threads;
}

// The distribution of single-job times (a shared machine's scheduler makes
// it bimodal: microseconds when every thread has a core, a time slice when
// one must wait): percentiles of 2000 jobs per iteration, in ns.
void job_percentiles(benchmark::State& state, Split how) {
  const int threads = sono::num_threads();
  std::vector<int64_t> slots(static_cast<size_t>(threads));
  std::vector<double> ns(2000);
  for (auto _ : state) {
    for (double& t : ns) {
      const auto t0 = std::chrono::steady_clock::now();
      empty_job(how, threads, slots);
      t = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    }
    benchmark::DoNotOptimize(slots.data());
  }
  std::sort(ns.begin(), ns.end());
  for (int p : {10, 25, 50, 75, 90}) state.counters[str_cat("p", p, "_ns")] = ns[ns.size() * size_t(p) / 100];
  state.counters["threads"] = threads;
}

template <bool kSilu>
void element_loop(benchmark::State& state, Split how, int64_t n) {
  const int threads = sono::num_threads();
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
    if (how == Split::Pool) {
      sono::parallel_for(n, true, [&](int64_t i0, int64_t i1) {
        if (kSilu) {
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) py[i] = pa[i] / (1.0f + std::exp(-pa[i]));
        } else {
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) py[i] = pa[i] + pb[i];
        }
      });
    } else if (kSilu && how == Split::Omp) {
#pragma omp parallel for simd num_threads(threads)
      for (int64_t i = 0; i < n; ++i) py[i] = pa[i] / (1.0f + std::exp(-pa[i]));
    } else if (kSilu) {
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) py[i] = pa[i] / (1.0f + std::exp(-pa[i]));
    } else if (how == Split::Omp) {
#pragma omp parallel for simd num_threads(threads)
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
  state.counters["threads"] = how == Split::Serial ? 1 : threads;
}

const bool registered = [] {
  const int t = sono::num_threads();
  for (Split how : {Split::Pool, Split::Omp}) {
    const char* kind = how == Split::Pool ? "pool" : "region";
    benchmark::RegisterBenchmark(str_cat("parallel/", kind, "/threads:", t).c_str(), job, how)->UseRealTime();
    benchmark::RegisterBenchmark(str_cat("parallel/", kind, "_percentiles/threads:", t).c_str(), job_percentiles, how)
        ->Iterations(1)
        ->UseRealTime();
  }
  for (Split how : {Split::Serial, Split::Pool, Split::Omp}) {
    const char* mode = how == Split::Serial ? "serial" : how == Split::Pool ? "pool" : "omp";
    for (int64_t n = 1 << 10; n <= 1 << 18; n *= 2) {
      benchmark::RegisterBenchmark(str_cat("parallel/add/", mode, "/n:", n).c_str(), element_loop<false>, how, n)
          ->UseRealTime();
      benchmark::RegisterBenchmark(str_cat("parallel/silu/", mode, "/n:", n).c_str(), element_loop<true>, how, n)
          ->UseRealTime();
    }
  }
  return true;
}();

}  // namespace
