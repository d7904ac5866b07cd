// ops/cpu/vec_math.h's spans against their scalar fallback (the ops/math.h
// loops the kernels ran before), one thread, on a cache-resident span of 16384
// floats in [-10, 10], so that the time is the math, not memory:
//   vec_math/<exp|sigmoid|silu|silu_backward>/<vector|scalar>
// Gelem/s counts elements. (vector is the scalar fallback in a build without AVX2.)
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "ops/cpu/vec_math.h"

namespace {

using namespace sono::cpu;

constexpr int64_t kSpan = 16384;

using Span = void (*)(const float*, float*, int64_t);

void span_bench(benchmark::State& state, Span f) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-10.f, 10.f);
  std::vector<float> x(kSpan), y(kSpan);
  for (auto& e : x) e = dist(rng);
  for (auto _ : state) {
    f(x.data(), y.data(), kSpan);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["Gelem/s"] =
      benchmark::Counter(1e-9 * double(kSpan) * double(state.iterations()), benchmark::Counter::kIsRate);
}

// silu_backward with gy = x (the gradient's values do not change the cost).
void silu_backward_vector(const float* x, float* y, int64_t n) { vec::silu_backward(x, x, y, n); }
void silu_backward_scalar(const float* x, float* y, int64_t n) { vec::scalar::silu_backward(x, x, y, n); }

const bool registered = [] {
  struct Fn {
    const char* name;
    Span vector, scalar;
  };
  for (const Fn& fn : {Fn{"exp", vec::exp, vec::scalar::exp}, Fn{"sigmoid", vec::sigmoid, vec::scalar::sigmoid},
                       Fn{"silu", vec::silu_forward, vec::scalar::silu_forward},
                       Fn{"silu_backward", silu_backward_vector, silu_backward_scalar}})
    for (bool vector : {true, false})
      benchmark::RegisterBenchmark((std::string("vec_math/") + fn.name + (vector ? "/vector" : "/scalar")).c_str(),
                                   span_bench, vector ? fn.vector : fn.scalar)
          ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
