// Global average pooling on CUDA vs the CPU kernels.
#include <doctest/doctest.h>

#include "ops/pool.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("pool cuda: global average pooling forward and backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 3000;
  for (DType t : {DType::F32, DType::F64}) {
    for (const Shape& shape : {Shape{2, 3, 5, 7}, Shape{3, 16, 64, 64}, Shape{2, 5, 1, 1}, Shape{1, 1, 300, 301}}) {
      CAPTURE(dtype_name(t));
      CAPTURE(shape_str(shape));
      // gy scaled by H*W: gradients of order 1 (the tolerance is relative).
      Tensor x = randn(shape, ++seed, t);
      Tensor gy = randn({shape[0], shape[1], 1, 1}, ++seed, t, double(shape[2] * shape[3]));
      Tensor y = Tensor::empty(gy.shape(), t), gx = Tensor::empty(shape, t);
      cpu::global_avg_pool2d_forward(x, y);
      cpu::global_avg_pool2d_backward(gy, gx);
      Tensor xg = x.to(kGpu), gyg = gy.to(kGpu);
      Tensor y_g = nan_like(gyg), gx_g = nan_like(xg);
      cuda::global_avg_pool2d_forward(xg, y_g);
      cuda::global_avg_pool2d_backward(gyg, gx_g);
      CHECK_CLOSE(y_g, y, cuda_tol(t));
      CHECK_CLOSE(gx_g, gx, cuda_tol(t));
    }
  }
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return global_avg_pool2d(in[0].permute({0, 3, 1, 2}));
      },
      {randn({2, 9, 11, 6}, 3100, DType::F32)}, tol::kCudaVsCpuF32);
}
