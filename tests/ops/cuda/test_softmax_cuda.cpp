// Softmax and log-softmax on CUDA vs the CPU kernels.
#include <doctest/doctest.h>

#include <tuple>

#include "ops/softmax.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("softmax cuda: forward and backward of softmax and log_softmax match the CPU") {
  SKIP_WITHOUT_CUDA();
  // (outer, n, inner): class rows, channels of a map, a long row, tiny.
  const std::tuple<int64_t, int64_t, int64_t> cases[] = {{16, 7, 1}, {2, 5, 4096}, {3, 1000, 1}, {1, 3, 5}, {4, 1, 3}};
  uint64_t seed = 4000;
  for (DType t : {DType::F32, DType::F64}) {
    for (const auto& [outer, n, inner] : cases) {
      for (bool log : {false, true}) {
        CAPTURE(dtype_name(t));
        CAPTURE(outer);
        CAPTURE(n);
        CAPTURE(inner);
        CAPTURE(log);
        const Shape shape{outer, n, inner};
        Tensor x = randn(shape, ++seed, t, 4.0), gy = randn(shape, ++seed, t);
        Tensor y = Tensor::empty(shape, t), gx = Tensor::empty(shape, t);
        cpu::softmax_forward(log, x, outer, n, inner, y);
        cpu::softmax_backward(log, y, gy, outer, n, inner, gx);
        Tensor xg = x.to(kGpu), y_g = nan_like(xg), gx_g = nan_like(xg);
        cuda::softmax_forward(log, xg, outer, n, inner, y_g);
        CHECK_CLOSE(y_g, y, cuda_tol(t));
        cuda::softmax_backward(log, y.to(kGpu), gy.to(kGpu), outer, n, inner, gx_g);  // same y on both
        CHECK_CLOSE(gx_g, gx, cuda_tol(t));
      }
    }
  }
  Tensor x = randn({2, 5, 3, 4}, 4100, DType::F32, 3.0);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return softmax(in[0], 1); }, {x}, tol::kCudaVsCpuF32);
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return log_softmax(in[0].permute({0, 2, 3, 1}), -1);
      },
      {x}, tol::kCudaVsCpuF32);
}
