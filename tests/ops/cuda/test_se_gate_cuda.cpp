// Squeeze-excitation gate on CUDA vs the CPU kernels, on fresh random inputs.
#include <doctest/doctest.h>

#include "ops/se_gate.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("se_gate cuda: forward and backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 7100;
  for (DType t : {DType::F32, DType::F64}) {
    for (const Shape& shape : {Shape{20, 96, 64, 64}, Shape{3, 5, 7}, Shape{2, 1632, 8, 8}}) {
      CAPTURE(dtype_name(t));
      CAPTURE(shape_str(shape));
      Tensor x = randn(shape, ++seed, t), s = randn({shape[0], shape[1]}, ++seed, t, 2.0), gy = randn(shape, ++seed, t);
      Tensor out = Tensor::empty(shape, t), gx = Tensor::empty(shape, t), gs = Tensor::empty(s.shape(), t);
      cpu::se_gate_forward(x, s, out);
      cpu::se_gate_backward(x, s, gy, gx, gs);
      Tensor xg = x.to(kGpu), sg = s.to(kGpu), gyg = gy.to(kGpu);
      Tensor out_g = nan_like(xg), gx_g = nan_like(xg), gs_g = nan_like(sg);
      cuda::se_gate_forward(xg, sg, out_g);
      cuda::se_gate_backward(xg, sg, gyg, gx_g, gs_g);
      CHECK_CLOSE(out_g, out, cuda_tol(t));
      CHECK_CLOSE(gx_g, gx, cuda_tol(t));
      CHECK_CLOSE(gs_g, gs, cuda_tol(t));
      Tensor gs_only = nan_like(sg);  // the logits' gradient alone
      cuda::se_gate_backward(xg, sg, gyg, Tensor(), gs_only);
      CHECK_CLOSE(gs_only, gs, cuda_tol(t));
    }
  }
}

TEST_CASE("se_gate cuda: the public op matches the CPU with gradients on strided inputs") {
  SKIP_WITHOUT_CUDA();
  Tensor x = randn({4, 5, 2, 3}, 7200, DType::F32), s = randn({3, 2}, 7201, DType::F32);
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return se_gate(in[0].permute({2, 3, 0, 1}), in[1].permute({1, 0}));
      },
      {x, s}, tol::kCudaVsCpuF32);
}
