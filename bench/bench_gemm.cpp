// OpenBLAS sgemm through sono::cpu::gemm: square sizes and the GEMMs behind
// the model's convolutions. GFLOP/s with FLOPs = 2*M*N*K. Filter: --benchmark_filter=gemm.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "ops/cpu/gemm.h"

namespace {

std::vector<float> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& e : v) e = dist(rng);
  return v;
}

// C[m, n] = A[m, k] @ B[k, n], all row-major and untransposed (the conv forward layout).
void sgemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  auto a = random_vector(m * k, 1), b = random_vector(k * n, 2);
  std::vector<float> c(size_t(m * n));
  for (auto _ : state) {
    sono::cpu::gemm<float>(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * double(m) * n * k * double(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(sgemm)
    ->ArgNames({"M", "N", "K"})
    ->Args({256, 256, 256})
    ->Args({512, 512, 512})
    ->Args({1024, 1024, 1024})
    ->Args({192, 4096, 32})    // 1x1 expand 32->192 at 64x64, one sample
    ->Args({32, 4096, 192})    // 1x1 project 192->32 at 64x64
    ->Args({960, 256, 160})    // 1x1 expand 160->960 at 16x16
    ->Args({128, 4096, 2304})  // FPN 3x3 256->128 at 64x64 (im2col)
    ->Args({48, 16384, 27})    // stem 3x3 stride 2 3->48 at 256x256 (im2col), one sample
    ->Args({32, 192, 4096})    // the 1x1 32->192 weight gradient's shape (gy @ x^T)
    ->Args({160, 960, 256})    // the 1x1 160->960 weight gradient's shape
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
