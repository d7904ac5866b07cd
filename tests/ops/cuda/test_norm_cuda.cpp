// Batch and group normalization on CUDA vs the CPU kernels: outputs, saved
// statistics, running statistics and every gradient.
#include <doctest/doctest.h>

#include "ops/binary.h"
#include "ops/norm.h"
#include "tests/ops/cuda/batch_norm_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("norm cuda: batch norm forward, running statistics and backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  // batch_norm_backward takes no bias: the shared check's b is dropped.
  const BatchNormBackend cpu_bn{
      cpu::batch_norm_forward,
      [](const Tensor& x, const Tensor& w, const Tensor&, const Tensor& sm, const Tensor& si, const Tensor& gy,
         bool training, const Tensor& gx, const Tensor& gw,
         const Tensor& gb) { cpu::batch_norm_backward(x, w, sm, si, gy, training, gx, gw, gb); }};
  const BatchNormBackend cuda_bn{
      cuda::batch_norm_forward,
      [](const Tensor& x, const Tensor& w, const Tensor&, const Tensor& sm, const Tensor& si, const Tensor& gy,
         bool training, const Tensor& gx, const Tensor& gw,
         const Tensor& gb) { cuda::batch_norm_backward(x, w, sm, si, gy, training, gx, gw, gb); }};
  check_batch_norm_backends(cpu_bn, cuda_bn, 4200, 3.0);
}

TEST_CASE("norm cuda: group norm forward and backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    Shape shape;
    int64_t groups;
  };
  const Case cases[] = {{{2, 8, 5, 7}, 4}, {{2, 128, 64, 64}, 32}, {{3, 6, 4, 4}, 6}, {{2, 6, 9}, 1}};
  uint64_t seed = 4300;
  for (DType t : {DType::F32, DType::F64}) {
    for (const Case& c : cases) {
      for (bool affine : {true, false}) {
        CAPTURE(dtype_name(t));
        CAPTURE(shape_str(c.shape));
        CAPTURE(c.groups);
        CAPTURE(affine);
        const int64_t N = c.shape[0], C = c.shape[1];
        Tensor x = randn(c.shape, ++seed, t, 2.0) - 2.0, gy = randn(c.shape, ++seed, t);
        Tensor w = affine ? randn({C}, ++seed, t) : Tensor(), b = affine ? randn({C}, ++seed, t) : Tensor();
        Tensor y = Tensor::empty(c.shape, t);
        Tensor sm = Tensor::empty({N, c.groups}, t), si = Tensor::empty({N, c.groups}, t);
        cpu::group_norm_forward(x, w, b, c.groups, 1e-5, y, sm, si);
        Tensor gx = Tensor::empty(c.shape, t);
        Tensor gw = affine ? Tensor::empty({C}, t) : Tensor(), gb = affine ? Tensor::empty({C}, t) : Tensor();
        cpu::group_norm_backward(x, w, sm, si, c.groups, gy, gx, gw, gb);

        Tensor xg = x.to(kGpu), y_g = nan_like(xg), sm_g = nan_like(sm.to(kGpu)), si_g = nan_like(si.to(kGpu));
        cuda::group_norm_forward(xg, gpu_or_none(w), gpu_or_none(b), c.groups, 1e-5, y_g, sm_g, si_g);
        CHECK_CLOSE(y_g, y, cuda_tol(t));
        CHECK_CLOSE(sm_g, sm, cuda_tol(t));
        CHECK_CLOSE(si_g, si, cuda_tol(t));
        Tensor gx_g = nan_like(xg), gw_g = nan_or_none(gw), gb_g = nan_or_none(gb);
        cuda::group_norm_backward(xg, gpu_or_none(w), sm.to(kGpu), si.to(kGpu), c.groups, gy.to(kGpu), gx_g, gw_g,
                                  gb_g);
        CHECK_CLOSE(gx_g, gx, cuda_tol(t));
        check_close_if(gw_g, gw, cuda_tol(t));
        check_close_if(gb_g, gb, cuda_tol(t));
      }
    }
  }
}

TEST_CASE("norm cuda: the public ops match the CPU with gradients on strided inputs") {
  SKIP_WITHOUT_CUDA();
  check_batch_norm_public_op(&batch_norm, 4400);
  const int64_t C = 6;
  Tensor x = randn({3, 5, 4, C}, 4400, DType::F32), w = randn({C}, 4401, DType::F32), b = randn({C}, 4402, DType::F32);
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return group_norm(in[0].permute({0, 3, 1, 2}), 3, in[1], in[2], 1e-5);
      },
      {x, w, b}, tol::kCudaVsCpuF32);
}
