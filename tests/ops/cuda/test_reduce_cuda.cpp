// Sums, means and argmax on CUDA vs the CPU kernels.
#include <doctest/doctest.h>

#include <cmath>
#include <tuple>

#include "ops/reduce.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("reduce cuda: sum over the middle dim matches the CPU on every launch path") {
  SKIP_WITHOUT_CUDA();
  // (outer, r, inner): one long row (two-pass grid), a few long rows, many
  // rows (block per row), columns (thread per output), tiny.
  const std::tuple<int64_t, int64_t, int64_t> cases[] = {
      {1, int64_t(1) << 20, 1}, {3, 100000, 1}, {500, 300, 1}, {7, 33, 65}, {1, 5, 1}, {2, 1, 9}};
  uint64_t seed = 3800;
  for (DType t : {DType::F32, DType::F64}) {
    for (const auto& [outer, r, inner] : cases) {
      for (double scale : {1.0, 0.37}) {
        CAPTURE(dtype_name(t));
        CAPTURE(outer);
        CAPTURE(r);
        CAPTURE(inner);
        CAPTURE(scale);
        Tensor x = randn({outer * r * inner}, ++seed, t), out = Tensor::empty({outer * inner}, t);
        cpu::sum_middle(x, outer, r, inner, scale, out);
        Tensor out_g = nan_like(out.to(kGpu));
        cuda::sum_middle(x.to(kGpu), outer, r, inner, scale, out_g);
        CHECK_CLOSE(out_g, out, cuda_tol(t));
      }
    }
  }
}

TEST_CASE("reduce cuda: argmax takes the first maximum and the first NaN, like the CPU") {
  SKIP_WITHOUT_CUDA();
  const std::tuple<int64_t, int64_t, int64_t> cases[] = {{4, 4096, 1}, {3, 7, 19}, {1, 1, 5}, {5, 2, 1}};
  uint64_t seed = 3900;
  for (DType t : {DType::F32, DType::F64}) {
    for (const auto& [outer, r, inner] : cases) {
      CAPTURE(dtype_name(t));
      CAPTURE(outer);
      CAPTURE(r);
      CAPTURE(inner);
      // Few distinct values: many ties.
      Tensor x = rand_int({outer * r * inner}, 0, 4, ++seed).to(t);
      for (bool with_nan : {false, true}) {
        if (with_nan) {
          std::vector<double> v = values(x);
          for (size_t i = 3; i < v.size(); i += 17) v[i] = NAN;
          x = Tensor::from_vector(v, x.shape()).to(t);
        }
        Tensor out = Tensor::empty({outer * inner}, DType::I64);
        cpu::argmax_middle(x, outer, r, inner, out);
        Tensor out_g = Tensor::full({outer * inner}, -7, DType::I64, kGpu);
        cuda::argmax_middle(x.to(kGpu), outer, r, inner, out_g);
        check_bitwise(out_g, out);
      }
    }
  }
}

TEST_CASE("reduce cuda: the public sum, mean and argmax match the CPU with gradients") {
  SKIP_WITHOUT_CUDA();
  Tensor x = randn({3, 4, 5, 6}, 3950, DType::F32);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return sum(in[0], {0, 2}); }, {x}, tol::kCudaVsCpuF32);
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return mean(in[0].permute({3, 1, 0, 2}), {1, 3}, true);
      },
      {x}, tol::kCudaVsCpuF32);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return mean(in[0]); }, {x}, tol::kCudaVsCpuF32);
  check_bitwise(argmax(x.to(kGpu), 2), argmax(x, 2));
  check_bitwise(argmax(x.to(kGpu).permute({0, 3, 1, 2}), -1), argmax(x.permute({0, 3, 1, 2}), -1));
}
