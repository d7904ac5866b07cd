#pragma once
// The CUDA-vs-CPU checks that batch norm (test_norm_cuda.cpp) and the fused
// batch_norm_silu (test_batch_norm_silu_cuda.cpp) share: their backends take
// the same arguments (batch_norm_silu's backward also takes the bias), so one
// loop over shapes, modes and affine checks both.
#include <doctest/doctest.h>

#include <functional>

#include "tests/ops/cuda/cuda_check.h"

namespace sono::test {

inline Tensor gpu_or_none(const Tensor& t) { return t.defined() ? t.to(kGpu) : Tensor(); }
inline Tensor nan_or_none(const Tensor& t) { return t.defined() ? nan_like(t.to(kGpu)) : Tensor(); }
inline void check_close_if(const Tensor& gpu, const Tensor& cpu, Tolerance tl) {
  REQUIRE(gpu.defined() == cpu.defined());
  if (cpu.defined()) CHECK_CLOSE(gpu, cpu, tl);
}

// One device's forward and backward kernels of a batch norm.
struct BatchNormBackend {
  std::function<void(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv,
                     bool training, double momentum, double eps, const Tensor& y, const Tensor& sm, const Tensor& si)>
      forward;
  std::function<void(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& sm, const Tensor& si,
                     const Tensor& gy, bool training, const Tensor& gx, const Tensor& gw, const Tensor& gb)>
      backward;
};

// Outputs, saved and running statistics and every gradient of the CUDA
// backend against the CPU one, f32 and f64, training and eval, with and
// without affine parameters; x ~ N(offset, 4) (offset inputs: the shifted
// one-pass variance must stay exact). Every CUDA output starts as NaN.
inline void check_batch_norm_backends(const BatchNormBackend& cpu, const BatchNormBackend& gpu, uint64_t seed,
                                      double offset) {
  for (DType t : {DType::F32, DType::F64}) {
    for (const Shape& shape : {Shape{4, 3, 5, 7}, Shape{2, 48, 32, 32}, Shape{16, 8, 1, 1}, Shape{4, 6, 10}}) {
      for (bool training : {true, false}) {
        for (bool affine : {true, false}) {
          CAPTURE(dtype_name(t));
          CAPTURE(shape_str(shape));
          CAPTURE(training);
          CAPTURE(affine);
          const int64_t C = shape[1];
          Tensor x = randn(shape, ++seed, t, 2.0) + offset, gy = randn(shape, ++seed, t);
          Tensor w = affine ? randn({C}, ++seed, t) : Tensor(), b = affine ? randn({C}, ++seed, t) : Tensor();
          Tensor rm = randn({C}, ++seed, t), rv = rand_uniform({C}, 0.5, 2.0, ++seed, t);
          Tensor rm_g = rm.to(kGpu), rv_g = rv.to(kGpu);
          Tensor y = Tensor::empty(shape, t), sm = Tensor::empty({C}, t), si = Tensor::empty({C}, t);
          cpu.forward(x, w, b, rm, rv, training, 0.01, 1e-3, y, sm, si);
          Tensor gx = Tensor::empty(shape, t);
          Tensor gw = affine ? Tensor::empty({C}, t) : Tensor(), gb = affine ? Tensor::empty({C}, t) : Tensor();
          cpu.backward(x, w, b, sm, si, gy, training, gx, gw, gb);

          Tensor xg = x.to(kGpu), y_g = nan_like(xg), sm_g = nan_like(sm.to(kGpu)), si_g = nan_like(si.to(kGpu));
          gpu.forward(xg, gpu_or_none(w), gpu_or_none(b), rm_g, rv_g, training, 0.01, 1e-3, y_g, sm_g, si_g);
          CHECK_CLOSE(y_g, y, cuda_tol(t));
          CHECK_CLOSE(sm_g, sm, cuda_tol(t));
          CHECK_CLOSE(si_g, si, cuda_tol(t));
          CHECK_CLOSE(rm_g, rm, cuda_tol(t));
          CHECK_CLOSE(rv_g, rv, cuda_tol(t));
          // Backward from the CPU's saved statistics, so only the backward differs.
          Tensor gx_g = nan_like(xg), gw_g = nan_or_none(gw), gb_g = nan_or_none(gb);
          gpu.backward(xg, gpu_or_none(w), gpu_or_none(b), sm.to(kGpu), si.to(kGpu), gy.to(kGpu), training, gx_g, gw_g,
                       gb_g);
          CHECK_CLOSE(gx_g, gx, cuda_tol(t));
          check_close_if(gw_g, gw, cuda_tol(t));
          check_close_if(gb_g, gb, cuda_tol(t));
          if (affine) {  // only the affine gradients (no gx)
            Tensor gw2 = nan_like(gw.to(kGpu)), gb2 = nan_like(gb.to(kGpu));
            gpu.backward(xg, gpu_or_none(w), gpu_or_none(b), sm.to(kGpu), si.to(kGpu), gy.to(kGpu), training, Tensor(),
                         gw2, gb2);
            CHECK_CLOSE(gw2, gw, cuda_tol(t));
            CHECK_CLOSE(gb2, gb, cuda_tol(t));
          }
        }
      }
    }
  }
}

// A public batch-norm op (batch_norm or batch_norm_silu) on a strided f32
// input with gradients, training and eval, and its running statistics.
using BatchNormOp = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double,
                               double);
inline void check_batch_norm_public_op(BatchNormOp op, uint64_t seed) {
  const int64_t C = 6;
  Tensor x = randn({3, 5, 4, C}, seed, DType::F32), w = randn({C}, seed + 1, DType::F32);
  Tensor b = randn({C}, seed + 2, DType::F32);
  Tensor rm = randn({C}, seed + 3, DType::F32), rv = rand_uniform({C}, 0.5, 2, seed + 4, DType::F32);
  for (bool training : {true, false}) {
    CAPTURE(training);
    Tensor rm_c = rm.clone(), rv_c = rv.clone(), rm_g = rm.to(kGpu), rv_g = rv.to(kGpu);
    check_op_cuda_vs_cpu(
        [&](const std::vector<Tensor>& in) {
          const bool gpu = in[0].device().is_cuda();
          return op(in[0].permute({0, 3, 1, 2}), in[1], in[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, training, 0.1,
                    1e-5);
        },
        {x, w, b}, tol::kCudaVsCpuF32);
    CHECK_CLOSE(rm_g, rm_c, tol::kCudaVsCpuF32);
    CHECK_CLOSE(rv_g, rv_c, tol::kCudaVsCpuF32);
  }
}

}  // namespace sono::test
