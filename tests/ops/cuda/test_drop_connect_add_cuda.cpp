// Drop-connect + residual add on CUDA vs the CPU kernels, on fresh random
// inputs and masks drawn on each device from the same generator state.
#include <doctest/doctest.h>

#include "ops/drop_connect_add.h"
#include "ops/dropout.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("drop_connect_add cuda: forward and backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 6100;
  for (DType t : {DType::F32, DType::F64}) {
    for (const Shape& shape : {Shape{20, 24, 32, 32}, Shape{3, 5, 7}, Shape{1, 4000}}) {
      CAPTURE(dtype_name(t));
      CAPTURE(shape_str(shape));
      Tensor x = randn(shape, ++seed, t), r = randn(shape, ++seed, t), gy = randn(shape, ++seed, t);
      Generator gc(++seed), gg(seed);
      Tensor m = drop_connect_mask(x, 0.3, true, gc), mg = drop_connect_mask(x.to(kGpu), 0.3, true, gg);
      check_bitwise(mg, m);  // the same Philox draws on both devices
      Tensor out = Tensor::empty(shape, t), gx = Tensor::empty(shape, t);
      cpu::drop_connect_add_forward(x, m, r, out);
      cpu::drop_connect_add_backward(m, gy, gx);
      Tensor out_g = nan_like(out.to(kGpu)), gx_g = nan_like(gx.to(kGpu));
      cuda::drop_connect_add_forward(x.to(kGpu), mg, r.to(kGpu), out_g);
      cuda::drop_connect_add_backward(mg, gy.to(kGpu), gx_g);
      CHECK_CLOSE(out_g, out, cuda_tol(t));
      check_bitwise(gx_g, gx);  // one rounding on both devices
    }
  }
}

TEST_CASE("drop_connect_add cuda: the public op matches the CPU with gradients on strided inputs") {
  SKIP_WITHOUT_CUDA();
  Tensor x = randn({6, 5, 8}, 6200, DType::F32), r = randn({6, 5, 8}, 6201, DType::F32);
  Tensor m = Tensor::from_vector<double>({0.0, 2.0, 2.0, 0.0, 2.0, 2.0}, {6}).to(DType::F32);
  Tensor mg = m.to(kGpu);
  check_op_cuda_vs_cpu(
      [&](const std::vector<Tensor>& in) {
        const bool gpu = in[0].device().is_cuda();
        return drop_connect_add(in[0].permute({2, 1, 0}), gpu ? mg : m, in[1].permute({2, 1, 0}));
      },
      {x.permute({2, 1, 0}).contiguous(), r.permute({2, 1, 0}).contiguous()}, tol::kCudaVsCpuF32);
}
