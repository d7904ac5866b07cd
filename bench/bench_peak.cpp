// The machine's physical floors, measured in the same run as the workloads
// (tools/bench_compare.py divides achieved rates by them):
//   peak/cpu/copy      memcpy of 128 MiB, one chunk per thread (OpenMP teams of
//                      sono::num_threads(), the kernels' thread count)
//   peak/cpu/triad     a = b + s * c over 3 x 128 MiB (STREAM triad)
//   peak/cpu/fma       fp32 FMA throughput: every thread runs
//                      independent chains of 256-bit FMAs on registers
//   peak/cpu/fma_one_thread  the same on one thread (the per-core figure)
//   peak/cuda/copy     device-to-device cudaMemcpyAsync of 1 GiB
//   peak/cuda/sgemm    cuBLAS 8192^3 GEMM in strict FP32 (CUBLAS_COMPUTE_32F)
//   peak/cuda/tf32gemm the same with TF32 tensor cores (for reference)
// GB/s counts STREAM's bytes: copy reads and writes each byte once, triad
// reads two arrays and writes one (write-allocate traffic not counted).
// The CPU FLOP/s peak is peak/cpu/fma: the FMA units' own rate, no memory
// operand, which no GEMM (OpenBLAS sgemm, bench_gemm.cpp) can exceed.
#include <immintrin.h>
#include <omp.h>

#include <cstring>
#include <vector>

#include "bench/bench_support.h"
#include "core/parallel.h"

#if SONO_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "core/cuda/context.h"
#endif

namespace {

using namespace sono;

constexpr size_t kCpuFloats = size_t(32) << 20;  // 128 MiB per array: far beyond any cache

// Arrays first touched by the threads that later use them (first-touch page placement).
std::vector<float> parallel_filled(float value) {
  std::vector<float> v(kCpuFloats);
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (int64_t i = 0; i < int64_t(kCpuFloats); ++i) v[size_t(i)] = value;
  return v;
}

void cpu_copy(benchmark::State& state) {
  std::vector<float> src = parallel_filled(1.f), dst = parallel_filled(0.f);
  bench::timed_loop(state, Device::cpu(), [&] {
#pragma omp parallel num_threads(num_threads())
    {
      const size_t threads = size_t(omp_get_num_threads()), t = size_t(omp_get_thread_num());
      const size_t begin = kCpuFloats * t / threads, end = kCpuFloats * (t + 1) / threads;
      std::memcpy(dst.data() + begin, src.data() + begin, (end - begin) * sizeof(float));
    }
    benchmark::DoNotOptimize(dst.data());
  });
  bench::set_gbytes(state, 2.0 * kCpuFloats * sizeof(float));
}

void cpu_triad(benchmark::State& state) {
  std::vector<float> a = parallel_filled(0.f), b = parallel_filled(1.f), c = parallel_filled(2.f);
  const float s = 3.f;
  bench::timed_loop(state, Device::cpu(), [&] {
    float* pa = a.data();
    const float *pb = b.data(), *pc = c.data();
#pragma omp parallel for simd schedule(static) num_threads(num_threads())
    for (int64_t i = 0; i < int64_t(kCpuFloats); ++i) pa[i] = pb[i] + s * pc[i];
    benchmark::DoNotOptimize(a.data());
  });
  bench::set_gbytes(state, 3.0 * kCpuFloats * sizeof(float));
}

// kChains independent accumulators: Zen 3 and recent Intel cores issue two
// 256-bit FMAs per cycle at a latency of 4 to 5 cycles, so at least 10 chains
// in flight keep both units busy. The multiplier and addend keep every value
// finite (x -> x * m + a converges to a / (1 - m)) and nothing can be folded.
constexpr int kChains = 12;
constexpr int64_t kFmaSteps = int64_t(1) << 22;  // per chain per thread: ~7 ms at 3.5 GHz

#if defined(__FMA__) && defined(__AVX__)
float fma_chains() {
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(float(i));
  for (int64_t s = 0; s < kFmaSteps; ++s)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, a);
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  return _mm256_cvtss_f32(sum);
}
#endif

void cpu_fma(benchmark::State& state, bool all_threads) {
#if defined(__FMA__) && defined(__AVX__)
  int threads = 1;
  float sink = 0;
  bench::timed_loop(state, Device::cpu(), [&] {
    if (all_threads) {
#pragma omp parallel reduction(+ : sink) num_threads(num_threads())
      {
#pragma omp single
        threads = omp_get_num_threads();
        sink += fma_chains();
      }
    } else {
      sink += fma_chains();
    }
    benchmark::DoNotOptimize(sink);
  });
  // 8 lanes x 2 FLOPs per FMA.
  bench::set_gflops(state, 16.0 * kChains * double(kFmaSteps) * threads);
  state.counters["threads"] = threads;
#else
  state.SkipWithError("built without AVX2/FMA (-march=x86-64-v3)");
#endif
}

#if SONO_WITH_CUDA
const Device kGpu = Device::cuda(0);

void cuda_copy(benchmark::State& state) {
  if (bench::skip_unavailable(state, kGpu)) return;
  const int64_t n = int64_t(1) << 28;  // 1 GiB of f32
  Tensor src = Tensor::full({n}, 1.0, DType::F32, kGpu), dst = Tensor::empty({n}, DType::F32, kGpu);
  cudaStream_t stream = cuda::current_stream(0);
  bench::timed_loop(state, kGpu, [&] {
    cudaMemcpyAsync(dst.raw_data(), src.raw_data(), size_t(n) * 4, cudaMemcpyDeviceToDevice, stream);
  });
  bench::set_gbytes(state, 2.0 * double(n) * 4);
}

void cuda_gemm(benchmark::State& state, cublasComputeType_t compute) {
  if (bench::skip_unavailable(state, kGpu)) return;
  const int n = 8192;
  Tensor a = Tensor::full({n, n}, 0.5, DType::F32, kGpu), b = Tensor::full({n, n}, 0.25, DType::F32, kGpu);
  Tensor c = Tensor::empty({n, n}, DType::F32, kGpu);
  const float alpha = 1.f, beta = 0.f;
  cublasHandle_t h = cuda::cublas_handle(0);
  bench::timed_loop(state, kGpu, [&] {
    cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a.raw_data(), CUDA_R_32F, n, b.raw_data(), CUDA_R_32F, n,
                 &beta, c.raw_data(), CUDA_R_32F, n, compute, CUBLAS_GEMM_DEFAULT);
  });
  bench::set_gflops(state, 2.0 * double(n) * n * n);
}
#endif

const bool registered = [] {
  bench::configure(benchmark::RegisterBenchmark("peak/cpu/copy", cpu_copy));
  bench::configure(benchmark::RegisterBenchmark("peak/cpu/triad", cpu_triad));
  bench::configure(benchmark::RegisterBenchmark("peak/cpu/fma", cpu_fma, true));
  bench::configure(benchmark::RegisterBenchmark("peak/cpu/fma_one_thread", cpu_fma, false));
#if SONO_WITH_CUDA
  bench::configure(benchmark::RegisterBenchmark("peak/cuda/copy", cuda_copy));
  bench::configure(benchmark::RegisterBenchmark("peak/cuda/sgemm", cuda_gemm, CUBLAS_COMPUTE_32F));
  bench::configure(benchmark::RegisterBenchmark("peak/cuda/tf32gemm", cuda_gemm, CUBLAS_COMPUTE_32F_FAST_TF32));
#endif
  return true;
}();

}  // namespace
