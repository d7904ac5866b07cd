// Nearest x2 and bilinear resizing on CUDA vs the CPU kernels.
#include <doctest/doctest.h>

#include "ops/upsample.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("upsample cuda: nearest x2 forward and backward equal the CPU bit for bit") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 3200;
  for (DType t : {DType::F32, DType::F64}) {
    for (const Shape& shape : {Shape{2, 3, 5, 7}, Shape{2, 256, 8, 8}, Shape{1, 1, 1, 1}}) {
      CAPTURE(dtype_name(t));
      CAPTURE(shape_str(shape));
      const Shape big{shape[0], shape[1], 2 * shape[2], 2 * shape[3]};
      Tensor x = randn(shape, ++seed, t), gy = randn(big, ++seed, t);
      Tensor y = Tensor::empty(big, t), gx = Tensor::empty(shape, t);
      cpu::upsample_nearest2x_forward(x, y);
      cpu::upsample_nearest2x_backward(gy, gx);
      Tensor xg = x.to(kGpu), gyg = gy.to(kGpu);
      Tensor y_g = nan_like(gyg), gx_g = nan_like(xg);
      cuda::upsample_nearest2x_forward(xg, y_g);
      cuda::upsample_nearest2x_backward(gyg, gx_g);
      check_bitwise(y_g, y);
      check_bitwise(gx_g, gx);
    }
  }
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return upsample_nearest2x(in[0].permute({0, 1, 3, 2}));
      },
      {randn({2, 3, 4, 6}, 3250, DType::F32)}, tol::kCudaVsCpuF32);
}

TEST_CASE("upsample cuda: bilinear forward and backward match the CPU for up, down and equal sizes") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    int64_t ih, iw, oh, ow;
  };
  // The model's x2 and x4 upsamplings, odd ratios, downsampling, size 1 and
  // equal sizes (copy), non-square.
  const Case cases[] = {{8, 8, 16, 16}, {64, 64, 256, 256}, {5, 7, 7, 5},  {7, 9, 3, 4},
                        {1, 1, 4, 3},   {6, 6, 6, 6},       {3, 5, 11, 2}, {13, 1, 2, 1}};
  uint64_t seed = 3300;
  for (DType t : {DType::F32, DType::F64}) {
    for (const Case& c : cases) {
      for (bool align : {true, false}) {
        CAPTURE(dtype_name(t));
        CAPTURE(c.ih);
        CAPTURE(c.iw);
        CAPTURE(c.oh);
        CAPTURE(c.ow);
        CAPTURE(align);
        Tensor x = randn({2, 3, c.ih, c.iw}, ++seed, t), gy = randn({2, 3, c.oh, c.ow}, ++seed, t);
        Tensor y = Tensor::empty(gy.shape(), t), gx = Tensor::empty(x.shape(), t);
        cpu::upsample_bilinear2d_forward(x, y, align);
        cpu::upsample_bilinear2d_backward(gy, gx, align);
        Tensor xg = x.to(kGpu), gyg = gy.to(kGpu);
        Tensor y_g = nan_like(gyg), gx_g = nan_like(xg);
        cuda::upsample_bilinear2d_forward(xg, y_g, align);
        cuda::upsample_bilinear2d_backward(gyg, gx_g, align);
        CHECK_CLOSE(y_g, y, cuda_tol(t));
        CHECK_CLOSE(gx_g, gx, cuda_tol(t));
      }
    }
  }
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return upsample_bilinear2d(in[0].permute({0, 1, 3, 2}), 24, 20, true);
      },
      {randn({2, 4, 5, 6}, 3350, DType::F32)}, tol::kCudaVsCpuF32);
}
