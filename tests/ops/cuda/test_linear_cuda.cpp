// linear on CUDA (cuBLAS) vs the CPU kernels.
#include <doctest/doctest.h>

#include <cmath>
#include <tuple>

#include "ops/linear.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("linear cuda: forward and every gradient match the CPU") {
  SKIP_WITHOUT_CUDA();
  const PrecisionScope fp32(Precision::FP32);  // compared with the CPU: strict FP32
  // (N, in, out): the classification/regression heads, a vector, odd sizes.
  const std::tuple<int64_t, int64_t, int64_t> cases[] = {{16, 448, 27}, {1, 5, 3}, {33, 130, 257}};
  uint64_t seed = 4500;
  for (DType t : {DType::F32, DType::F64}) {
    for (const auto& [n, in, out] : cases) {
      for (bool with_bias : {true, false}) {
        CAPTURE(dtype_name(t));
        CAPTURE(n);
        CAPTURE(in);
        CAPTURE(out);
        CAPTURE(with_bias);
        // Weights scaled like a real init (outputs of order 1), gy by 1/sqrt(N)
        // (weight gradients of order 1): the f32 tolerance is relative.
        Tensor x = randn({n, in}, ++seed, t), w = randn({out, in}, ++seed, t, 1.0 / std::sqrt(double(in)));
        Tensor b = with_bias ? randn({out}, ++seed, t) : Tensor();
        Tensor gy = randn({n, out}, ++seed, t, 1.0 / std::sqrt(double(n)));
        Tensor y = Tensor::empty({n, out}, t), gx = Tensor::empty({n, in}, t), gw = Tensor::empty({out, in}, t);
        Tensor gb = Tensor::empty({out}, t);
        cpu::linear_forward(x, w, b, y);
        cpu::linear_backward(x, w, gy, gx, gw, gb);
        Tensor xg = x.to(kGpu), wg = w.to(kGpu), bg = with_bias ? b.to(kGpu) : Tensor(), gyg = gy.to(kGpu);
        Tensor y_g = nan_tensor({n, out}, t), gx_g = nan_tensor({n, in}, t), gw_g = nan_tensor({out, in}, t);
        Tensor gb_g = nan_tensor({out}, t);
        cuda::linear_forward(xg, wg, bg, y_g);
        cuda::linear_backward(xg, wg, gyg, gx_g, gw_g, gb_g);
        CHECK_CLOSE(y_g, y, cuda_tol(t));
        CHECK_CLOSE(gx_g, gx, cuda_tol(t));
        CHECK_CLOSE(gw_g, gw, cuda_tol(t));
        CHECK_CLOSE(gb_g, gb, cuda_tol(t));
        // Each gradient alone.
        Tensor only_gw = nan_tensor({out, in}, t);
        cuda::linear_backward(xg, wg, gyg, Tensor(), only_gw, Tensor());
        CHECK_CLOSE(only_gw, gw, cuda_tol(t));
        Tensor only_gx = nan_tensor({n, in}, t);
        cuda::linear_backward(Tensor(), wg, gyg, only_gx, Tensor(), Tensor());
        CHECK_CLOSE(only_gx, gx, cuda_tol(t));
      }
    }
  }
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return linear(in[0].permute({1, 0}), in[1], in[2]);
      },
      {randn({12, 4}, 4550, DType::F32), randn({7, 12}, 4551, DType::F32, 0.3), randn({7}, 4552, DType::F32)},
      tol::kCudaVsCpuF32);
}

TEST_CASE("linear cuda: tf32 precision stays within the tf32 tolerance of the CPU, f64 ignores it") {
  SKIP_WITHOUT_CUDA();
  const PrecisionScope tf32(Precision::TF32);
  uint64_t seed = 4600;
  for (DType t : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(t));
    const Tolerance tl = t == DType::F32 ? tol::kCudaVsCpuTF32 : cuda_tol(t);
    const int64_t n = 64, in = 448, out = 96;
    Tensor x = randn({n, in}, ++seed, t), w = randn({out, in}, ++seed, t, 1.0 / std::sqrt(double(in)));
    Tensor b = randn({out}, ++seed, t), gy = randn({n, out}, ++seed, t, 1.0 / std::sqrt(double(n)));
    Tensor y = Tensor::empty({n, out}, t), gx = Tensor::empty({n, in}, t), gw = Tensor::empty({out, in}, t);
    Tensor gb = Tensor::empty({out}, t);
    cpu::linear_forward(x, w, b, y);
    cpu::linear_backward(x, w, gy, gx, gw, gb);
    Tensor xg = x.to(kGpu), wg = w.to(kGpu), gyg = gy.to(kGpu);
    Tensor y_g = nan_tensor({n, out}, t), gx_g = nan_tensor({n, in}, t), gw_g = nan_tensor({out, in}, t);
    Tensor gb_g = nan_tensor({out}, t);
    cuda::linear_forward(xg, wg, b.to(kGpu), y_g);
    cuda::linear_backward(xg, wg, gyg, gx_g, gw_g, gb_g);
    CHECK_CLOSE(y_g, y, tl);
    CHECK_CLOSE(gx_g, gx, tl);
    CHECK_CLOSE(gw_g, gw, tl);
    CHECK_CLOSE(gb_g, gb, tl);
  }
}
