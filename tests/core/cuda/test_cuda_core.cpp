// CUDA backend vs CPU on fresh random inputs. Without a CUDA device every
// GPU test prints why it is skipped; the missing-device error and the error
// macros are tested on every machine.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/cuda/allocator.h"
#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/kernels.h"
#include "tests/support/check.h"
#include "tests/support/skip.h"

using namespace sono;
using namespace sono::test;

namespace {

bool cuda_available() { return cuda::device_count() > 0; }

#define SKIP_WITHOUT_CUDA() SONO_SKIP_UNLESS(cuda_available(), "no CUDA device")

const Device kGpu = Device::cuda(0);
const DType kAllDtypes[] = {DType::F32, DType::F64, DType::BF16, DType::I64, DType::I32, DType::U8};
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Random values that every dtype can hold; non-negative when they will be
// converted to u8 (negative float -> unsigned is undefined in C++).
Tensor random_of(DType t, const Shape& shape, bool non_negative, uint64_t seed) {
  const double lo = non_negative ? 0 : -100;
  if (is_floating(t)) return rand_uniform(shape, lo, 120, seed, t);
  return rand_int(shape, int64_t(lo), 120, seed).to(t);
}

// Bit-exact comparison through f64 (every dtype here converts to f64 exactly).
void check_equal(const Tensor& gpu, const Tensor& cpu) {
  REQUIRE(gpu.shape() == cpu.shape());
  auto g = values(gpu), c = values(cpu);
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (!(g[i] == c[i]) && bad++ == 0) first = i;
  CHECK_MESSAGE(bad == 0, bad, " of ", g.size(), " elements differ, first at ", first, ": cuda ", g[first], " cpu ",
                c[first], " (", gpu.describe(), ")");
}

Tensor nan_like(const Tensor& t) { return Tensor::full(t.shape(), kNaN, t.dtype(), t.device()); }

}  // namespace

// ---- on every machine --------------------------------------------------------

TEST_CASE("cuda: requesting a missing device names it and the device count") {
  const int n = cuda::device_count();
  const std::string expected = str_cat("cuda:", n, " requested but ", n, " CUDA device");
  CHECK_THROWS_WITH_AS(Tensor::zeros({2}, DType::F32, Device::cuda(n)), doctest::Contains(expected.c_str()), Error);
  CHECK_THROWS_WITH_AS(Tensor::zeros({2}).to(Device::cuda(n)), doctest::Contains(expected.c_str()), Error);
  if (n == 0) {
    CHECK_THROWS_WITH_AS(Tensor::zeros({2}, DType::F32, Device::cuda(0)),
                         doctest::Contains("cuda:0 requested but 0 CUDA devices found"), Error);
    CHECK_THROWS_WITH_AS(cuda::current_stream(0), doctest::Contains("cuda:0 requested"), Error);
  }
}

TEST_CASE("cuda: check macros name the call, the place and the library error") {
  auto cuda_call = [] { SONO_CUDA_CHECK(cudaSetDevice(-1)); };
  CHECK_THROWS_WITH_AS(cuda_call(), doctest::Contains("CUDA error: cudaSetDevice(-1) failed at "), Error);
  CHECK_THROWS_WITH_AS(cuda_call(), doctest::Contains("test_cuda_core.cpp:"), Error);
  cudaGetLastError();
  auto cublas_call = [] { SONO_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED); };
  CHECK_THROWS_WITH_AS(cublas_call(), doctest::Contains("cuBLAS error: CUBLAS_STATUS_NOT_INITIALIZED failed"), Error);
  auto cudnn_call = [] { SONO_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); };
  CHECK_THROWS_WITH_AS(cudnn_call(), doctest::Contains("cuDNN error: CUDNN_STATUS_BAD_PARAM failed"), Error);
}

// ---- with a CUDA device ----------------------------------------------------------

TEST_CASE("cuda: copy round trips and converts all dtypes through strided views") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 100;
  for (DType s : kAllDtypes) {
    Tensor x = random_of(s, {3, 4, 5}, false, ++seed);
    check_equal(x.to(kGpu).to(Device::cpu()), x);  // H2D + D2H, contiguous
    for (DType d : kAllDtypes) {
      CAPTURE(dtype_name(s));
      CAPTURE(dtype_name(d));
      Tensor src = random_of(s, {3, 4, 5}, d == DType::U8, ++seed);
      Tensor src_gpu = src.to(kGpu);
      // Same strided copy on both backends: permuted+sliced source into a
      // step-2 slice of a pre-filled destination (untouched elements must stay).
      Tensor base = random_of(d, {5, 2, 8}, false, ++seed);
      Tensor base_gpu = base.to(kGpu);
      base.slice(2, 0, 8, 2).copy_(src.permute({2, 0, 1}).slice(1, 1, 3));
      base_gpu.slice(2, 0, 8, 2).copy_(src_gpu.permute({2, 0, 1}).slice(1, 1, 3));
      check_equal(base_gpu, base);
      // Cross-device into a non-contiguous destination (staged path).
      Tensor back = random_of(d, {5, 2, 8}, false, ++seed);
      Tensor back_ref = back.clone();
      back.slice(2, 1, 8, 2).copy_(base_gpu.slice(2, 0, 8, 2));
      back_ref.slice(2, 1, 8, 2).copy_(base.slice(2, 0, 8, 2));
      check_equal(back, back_ref);
    }
  }
}

TEST_CASE("cuda: fill writes exactly the view, also past one grid-stride round") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 200;
  for (DType t : kAllDtypes) {
    CAPTURE(dtype_name(t));
    Tensor base = random_of(t, {6, 7}, false, ++seed);
    Tensor base_gpu = base.to(kGpu);
    base.permute({1, 0}).slice(0, 1, 6, 2).fill_(3.5);
    base_gpu.permute({1, 0}).slice(0, 1, 6, 2).fill_(3.5);
    check_equal(base_gpu, base);
  }
  // More elements than one launch has threads (kMaxBlocks * kBlockSize).
  const int64_t n = (int64_t(1) << 24) + 1001;
  Tensor big = Tensor::full({n}, kNaN, DType::F32, kGpu);
  big.fill_(2.5);
  auto v = big.to_vector<float>();
  int64_t wrong = 0;
  for (float e : v) wrong += e != 2.5f;
  CHECK(wrong == 0);
}

TEST_CASE("cuda: axpy matches the CPU on strided views") {
  SKIP_WITHOUT_CUDA();
  for (DType t : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(t));
    Tensor dst = randn({4, 5, 6}, 301, t);
    Tensor src = randn({6, 4, 5}, 302, t);
    Tensor dst_gpu = dst.to(kGpu);
    dst.permute({2, 0, 1}).add_(src, -0.7);
    dst_gpu.permute({2, 0, 1}).add_(src.to(kGpu), -0.7);
    CHECK_CLOSE(dst_gpu, dst, t == DType::F32 ? tol::kCudaVsCpuF32 : tol::kForwardF64);
    Tensor sliced = dst.slice(1, 0, 5, 2).clone(), sliced_gpu = dst.to(kGpu).slice(1, 0, 5, 2);
    sliced.add_(src.slice(2, 0, 3).permute({1, 2, 0}), 1.3);
    sliced_gpu.add_(src.to(kGpu).slice(2, 0, 3).permute({1, 2, 0}), 1.3);
    CHECK_CLOSE(sliced_gpu, sliced, t == DType::F32 ? tol::kCudaVsCpuF32 : tol::kForwardF64);
  }
}

TEST_CASE("cuda: the contiguous fast paths of fill and axpy match the strided ones and the CPU") {
  SKIP_WITHOUT_CUDA();
  for (DType t : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(t));
    // 300 x 301: past one grid-stride round of the contiguous loop.
    Tensor dst = randn({300, 301}, 311, t), src = randn({300, 301}, 312, t);
    Tensor contiguous = dst.to(kGpu), strided = dst.permute({1, 0}).contiguous().to(kGpu).permute({1, 0});
    REQUIRE(!strided.is_contiguous());
    contiguous.add_(src.to(kGpu), 0.3);
    strided.add_(src.to(kGpu), 0.3);
    dst.add_(src, 0.3);
    CHECK(values(contiguous.to(Device::cpu())) == values(strided.contiguous().to(Device::cpu())));
    CHECK_CLOSE(contiguous, dst, t == DType::F32 ? tol::kCudaVsCpuF32 : tol::kForwardF64);
    contiguous.fill_(-1.25);
    strided.fill_(-1.25);
    const std::vector<double> filled = values(Tensor::full({300, 301}, -1.25, t));
    CHECK(values(contiguous.to(Device::cpu())) == filled);
    CHECK(values(strided.contiguous().to(Device::cpu())) == filled);
  }
}

TEST_CASE("cuda: sum_to_shape matches the CPU for short and long reductions") {
  SKIP_WITHOUT_CUDA();
  for (DType t : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(t));
    Tensor src = randn({3, 2, 50, 40}, 401, t).permute({1, 0, 3, 2});  // [2, 3, 40, 50], non-contiguous
    Tensor src_gpu = src.to(kGpu);
    REQUIRE_FALSE(src_gpu.is_contiguous());
    for (const Shape& shape :
         {Shape{3, 1, 1}, Shape{50}, Shape{1}, Shape{}, Shape{2, 1, 40, 1}, Shape{2, 3, 40, 50}, Shape{3, 40, 1}}) {
      CAPTURE(shape_str(shape));
      CHECK_CLOSE(kernels::sum_to_shape(src_gpu, shape), kernels::sum_to_shape(src, shape),
                  t == DType::F32 ? tol::kCudaVsCpuF32 : tol::kForwardF64);
    }
  }
}

TEST_CASE("cuda: caching allocator counts, rounds to size classes and reuses blocks") {
  SKIP_WITHOUT_CUDA();
  cuda::synchronize(0);
  cuda::empty_cache(0);
  cuda::reset_peak_memory(0);
  const cuda::MemoryStats s0 = cuda::memory_stats(0);
  CHECK(s0.reserved == s0.allocated);  // nothing cached after empty_cache
  {
    Tensor small = Tensor::empty({129}, DType::F32, kGpu);  // 516 B -> 1 KiB class
    const auto s1 = cuda::memory_stats(0);
    CHECK(s1.allocated == s0.allocated + 1024);
    CHECK(s1.device_mallocs == s0.device_mallocs + 1);
    void* large_ptr = nullptr;
    {
      Tensor large = Tensor::empty({(1 << 18) + 1}, DType::F32, kGpu);  // 1 MiB + 4 B -> 2 MiB class
      large_ptr = large.raw_data();
      const auto s2 = cuda::memory_stats(0);
      CHECK(s2.allocated == s1.allocated + (size_t(2) << 20));
      CHECK(s2.peak == s2.allocated);
    }
    const auto s3 = cuda::memory_stats(0);
    CHECK(s3.allocated == s1.allocated);
    CHECK(s3.reserved == s1.reserved + (size_t(2) << 20));  // freed block stays cached
    CHECK(s3.peak == s1.allocated + (size_t(2) << 20));
    Tensor again = Tensor::empty({(1 << 18) + 100}, DType::F32, kGpu);  // same class: reused
    const auto s4 = cuda::memory_stats(0);
    CHECK(again.raw_data() == large_ptr);
    CHECK(s4.device_mallocs == s3.device_mallocs);
    CHECK(s4.reserved == s3.reserved);
  }
  const auto s5 = cuda::memory_stats(0);
  CHECK(s5.allocated == s0.allocated);
  cuda::empty_cache(0);
  CHECK(cuda::memory_stats(0).reserved == s0.reserved);
}

TEST_CASE("cuda: an impossible allocation raises a readable out-of-memory error") {
  SKIP_WITHOUT_CUDA();
  const int64_t n = int64_t(1) << 40;  // 4 TiB of f32
  CHECK_THROWS_WITH_AS(Tensor::empty({n}, DType::F32, kGpu), doctest::Contains("cuda:0 out of memory"), Error);
  CHECK_THROWS_WITH_AS(Tensor::empty({n}, DType::F32, kGpu), doctest::Contains("4.00 TiB"), Error);
  CHECK_THROWS_WITH_AS(Tensor::empty({n}, DType::F32, kGpu), doctest::Contains("Lower the batch size"), Error);
  // The device is still usable afterwards.
  CHECK(Tensor::full({3}, 1.5, DType::F32, kGpu).to_vector<float>() == std::vector<float>{1.5f, 1.5f, 1.5f});
}

TEST_CASE("cuda: per-device handles, workspace and pinned host buffers") {
  SKIP_WITHOUT_CUDA();
  CHECK(cuda::current_stream(0) != nullptr);
  CHECK(cuda::cublas_handle(0) == cuda::cublas_handle(0));
  CHECK(cuda::cudnn_handle(0) != nullptr);
  void* w1 = cuda::workspace(0, 1000);
  CHECK(w1 != nullptr);
  CHECK(cuda::workspace(0, 500) == w1);  // grow-only: a smaller request keeps the buffer
  CHECK(cuda::workspace(0, size_t(8) << 20) != nullptr);

  Tensor x = randn({1000}, 601, DType::F32);
  cuda::PinnedBuffer pinned(1000 * sizeof(float));
  std::memcpy(pinned.data(), x.raw_data(), pinned.bytes());
  Tensor on_gpu = Tensor::empty({1000}, DType::F32, kGpu);
  copy_bytes(on_gpu.raw_data(), kGpu, pinned.data(), Device::cpu(), pinned.bytes());
  check_equal(on_gpu, x);
  cuda::PinnedBuffer moved = std::move(pinned);
  CHECK(pinned.data() == nullptr);
  CHECK(moved.bytes() == 1000 * sizeof(float));
}
