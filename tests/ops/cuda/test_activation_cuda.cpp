// SiLU, ReLU and sigmoid on CUDA vs the CPU kernels, and SiLU through the
// public op and autograd on the device.
#include <doctest/doctest.h>

#include "ops/activation.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("activation cuda: forward and backward match the CPU and write every element") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 500;
  for (DType t : {DType::F32, DType::F64}) {
    const Tolerance tl = t == DType::F32 ? tol::kCudaVsCpuF32 : tol::kForwardF64;
    for (Activation a : {Activation::SiLU, Activation::ReLU, Activation::Sigmoid}) {
      CAPTURE(dtype_name(t));
      CAPTURE(int(a));
      Tensor x = randn({3, 5, 7, 11}, ++seed, t, 3.0), gy = randn(x.shape(), ++seed, t);
      Tensor y = Tensor::empty(x.shape(), t), gx = Tensor::empty(x.shape(), t);
      cpu::activation_forward(a, x, y);
      cpu::activation_backward(a, x, y, gy, gx);
      Tensor x_gpu = x.to(kGpu), gy_gpu = gy.to(kGpu);
      Tensor y_gpu = nan_like(x_gpu), gx_gpu = nan_like(x_gpu);  // unwritten elements stay NaN and fail
      cuda::activation_forward(a, x_gpu, y_gpu);
      cuda::activation_backward(a, x_gpu, y_gpu, gy_gpu, gx_gpu);
      CHECK_CLOSE(y_gpu, y, tl);
      CHECK_CLOSE(gx_gpu, gx, tl);
    }
  }
  // Through the public op and autograd on the device.
  Tensor x = randn({4, 9}, 550, DType::F32);
  Tensor leaf = x.to(kGpu).set_requires_grad(true);
  Tensor gy = randn({9, 4}, 551, DType::F32);
  silu(leaf.permute({1, 0})).backward(gy.to(kGpu));
  Tensor leaf_cpu = x.clone().set_requires_grad(true);
  silu(leaf_cpu.permute({1, 0})).backward(gy);
  REQUIRE(leaf.grad().defined());
  CHECK(leaf.grad().device() == kGpu);
  CHECK_CLOSE(leaf.grad(), leaf_cpu.grad(), tol::kCudaVsCpuF32);
}
