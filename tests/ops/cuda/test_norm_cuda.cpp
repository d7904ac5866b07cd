// Batch and group normalization on CUDA vs the CPU kernels: outputs, saved
// statistics, running statistics and every gradient.
#include <doctest/doctest.h>

#include "ops/binary.h"
#include "ops/norm.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

namespace {

Tensor gpu_or_none(const Tensor& t) { return t.defined() ? t.to(kGpu) : Tensor(); }
Tensor nan_or_none(const Tensor& t) { return t.defined() ? nan_like(t.to(kGpu)) : Tensor(); }
void check_close_if(const Tensor& gpu, const Tensor& cpu, Tolerance tl) {
  REQUIRE(gpu.defined() == cpu.defined());
  if (cpu.defined()) CHECK_CLOSE(gpu, cpu, tl);
}

}  // namespace

TEST_CASE("norm cuda: batch norm forward, running statistics and backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 4200;
  for (DType t : {DType::F32, DType::F64}) {
    for (const Shape& shape : {Shape{4, 3, 5, 7}, Shape{2, 48, 32, 32}, Shape{16, 8, 1, 1}, Shape{4, 6, 10}}) {
      for (bool training : {true, false}) {
        for (bool affine : {true, false}) {
          CAPTURE(dtype_name(t));
          CAPTURE(shape_str(shape));
          CAPTURE(training);
          CAPTURE(affine);
          const int64_t C = shape[1];
          // Offset inputs: the shifted one-pass variance must stay exact.
          Tensor x = randn(shape, ++seed, t, 2.0) + 3.0, gy = randn(shape, ++seed, t);
          Tensor w = affine ? randn({C}, ++seed, t) : Tensor(), b = affine ? randn({C}, ++seed, t) : Tensor();
          Tensor rm = randn({C}, ++seed, t), rv = rand_uniform({C}, 0.5, 2.0, ++seed, t);
          Tensor rm_g = rm.to(kGpu), rv_g = rv.to(kGpu);
          Tensor y = Tensor::empty(shape, t), sm = Tensor::empty({C}, t), si = Tensor::empty({C}, t);
          cpu::batch_norm_forward(x, w, b, rm, rv, training, 0.01, 1e-3, y, sm, si);
          Tensor gx = Tensor::empty(shape, t);
          Tensor gw = affine ? Tensor::empty({C}, t) : Tensor(), gb = affine ? Tensor::empty({C}, t) : Tensor();
          cpu::batch_norm_backward(x, w, sm, si, gy, training, gx, gw, gb);

          Tensor xg = x.to(kGpu), y_g = nan_like(xg), sm_g = nan_like(sm.to(kGpu)), si_g = nan_like(si.to(kGpu));
          cuda::batch_norm_forward(xg, gpu_or_none(w), gpu_or_none(b), rm_g, rv_g, training, 0.01, 1e-3, y_g, sm_g,
                                   si_g);
          CHECK_CLOSE(y_g, y, cuda_tol(t));
          CHECK_CLOSE(sm_g, sm, cuda_tol(t));
          CHECK_CLOSE(si_g, si, cuda_tol(t));
          CHECK_CLOSE(rm_g, rm, cuda_tol(t));
          CHECK_CLOSE(rv_g, rv, cuda_tol(t));
          // Backward from the CPU's saved statistics, so only the backward differs.
          Tensor gx_g = nan_like(xg), gw_g = nan_or_none(gw), gb_g = nan_or_none(gb);
          cuda::batch_norm_backward(xg, gpu_or_none(w), sm.to(kGpu), si.to(kGpu), gy.to(kGpu), training, gx_g, gw_g,
                                    gb_g);
          CHECK_CLOSE(gx_g, gx, cuda_tol(t));
          check_close_if(gw_g, gw, cuda_tol(t));
          check_close_if(gb_g, gb, cuda_tol(t));
          // Only the affine gradients (no gx) also works.
          if (affine) {
            Tensor gw2 = nan_like(gw.to(kGpu)), gb2 = nan_like(gb.to(kGpu));
            cuda::batch_norm_backward(xg, gpu_or_none(w), sm.to(kGpu), si.to(kGpu), gy.to(kGpu), training, Tensor(),
                                      gw2, gb2);
            CHECK_CLOSE(gw2, gw, cuda_tol(t));
            CHECK_CLOSE(gb2, gb, cuda_tol(t));
          }
        }
      }
    }
  }
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
  const int64_t C = 6;
  Tensor x = randn({3, 5, 4, C}, 4400, DType::F32), w = randn({C}, 4401, DType::F32), b = randn({C}, 4402, DType::F32);
  Tensor rm = randn({C}, 4403, DType::F32), rv = rand_uniform({C}, 0.5, 2, 4404, DType::F32);
  for (bool training : {true, false}) {
    CAPTURE(training);
    Tensor rm_c = rm.clone(), rv_c = rv.clone(), rm_g = rm.to(kGpu), rv_g = rv.to(kGpu);
    check_op_cuda_vs_cpu(
        [&](const std::vector<Tensor>& in) {
          const bool gpu = in[0].device().is_cuda();
          return batch_norm(in[0].permute({0, 3, 1, 2}), in[1], in[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, training,
                            0.1, 1e-5);
        },
        {x, w, b}, tol::kCudaVsCpuF32);
    CHECK_CLOSE(rm_g, rm_c, tol::kCudaVsCpuF32);
    CHECK_CLOSE(rv_g, rv_c, tol::kCudaVsCpuF32);
  }
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return group_norm(in[0].permute({0, 3, 1, 2}), 3, in[1], in[2], 1e-5);
      },
      {x, w, b}, tol::kCudaVsCpuF32);
}
