// CPU batch norm + SiLU, y = silu(z) with z = (x - mean) * (w * invstd) + b,
// over contiguous x [N, C, S...] as N*C planes (ops/cpu/norm_planes.h, the
// statistics and backward shared with ops/cpu/norm.cpp). SiLU and its
// derivative are ops/math.h's, shared with CUDA; f32 runs them through
// ops/cpu/vec_math.h, as the silu op does.
// Forward: one pass over x for the statistics (training), one that writes y;
// z lives only in y's plane before SiLU overwrites it. Backward: one pass
// recomputes z from x and the saved statistics and writes gz = gy * silu'(z)
// into gx while summing gz and gz * (x - mean) per plane; a second turns gx
// into the input gradient in place (batch norm's backward with gz as its
// output gradient). Each pass works plane by plane, so the in-plane steps
// run on cached data.
// Outputs: y, save_mean / save_invstd, gx, gweight, gbias are overwritten; the
// running statistics are updated in place (training only).
#include "ops/batch_norm_silu.h"
#include "core/bf16_cpu.h"

#include <type_traits>

#include "core/parallel.h"
#include "ops/cpu/norm_planes.h"
#include "ops/cpu/vec_math.h"
#include "ops/math.h"

namespace sono::cpu {

namespace {

using namespace norm;

// z = silu(z) over a plane, in place.
template <class T>
void silu_in_place(T* z, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    vec::silu_forward(z, z, n);
  } else {
    for (int64_t i = 0; i < n; ++i) z[i] = math::silu(z[i]);
  }
}

// z = gy * silu'(z) over a plane, in place.
template <class T>
void silu_grad_in_place(T* z, const T* gy, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    vec::silu_backward(z, gy, z, n);
  } else {
    for (int64_t i = 0; i < n; ++i) z[i] = gy[i] * math::silu_grad(z[i]);
  }
}

template <class T>
T* scratch_plane(std::vector<T>& scratch, int64_t s) {
  if (scratch.size() < size_t(s)) scratch.resize(size_t(s));
  return scratch.data();
}

template <class T>
void backward_impl(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& save_mean,
                   const Tensor& save_invstd, const Tensor& gy, bool training, const Tensor& gx, const Tensor& gweight,
                   const Tensor& gbias) {
  const Planes pl(x);
  const int64_t C = pl.c, s = pl.s;
  const std::vector<double> mean = values_or<T>(save_mean, C, 0.0), invstd = values_or<T>(save_invstd, C, 1.0);
  const PlaneAffine k = batch_norm_affine<T>(pl, mean, invstd, weight, bias);
  const T* xd = x.data<T>();
  const T* gyd = gy.data<T>();
  T* gz = gx.defined() ? gx.data<T>() : nullptr;  // gz lives in gx until the second pass
  const bool want_sums = training || gweight.defined() || gbias.defined();
  std::vector<double> sum_gz(size_t(pl.count()), 0.0), sum_gz_xc(size_t(pl.count()), 0.0);
  std::vector<std::vector<T>> scratch(static_cast<size_t>(num_threads()));
  parallel_for(pl.count(), pl.parallel(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xs = xd + p * s;
      const T* gs = gyd + p * s;
      const double md = k.mean[size_t(p)];
      double sa = 0, sb = 0;
      // z, then gz = gy * silu'(z), in the plane's slice of gx (or of a
      // per-thread scratch plane when gx is not wanted), then its sums.
      T* dst = gz ? gz + p * s : scratch_plane(scratch[size_t(this_worker())], s);
      affine_plane(xs, dst, s, k, p);
      silu_grad_in_place(dst, gs, s);
#pragma omp simd reduction(+ : sa, sb)
      for (int64_t i = 0; i < s; ++i) {
        sa += double(dst[i]);
        sb += double(dst[i]) * (double(xs[i]) - md);
      }
      if (want_sums) {
        sum_gz[size_t(p)] = sa;
        sum_gz_xc[size_t(p)] = sb;
      }
    }
  });
  batch_norm_backward_from_sums<T>(x, gz, pl, mean, invstd, weight, sum_gz, sum_gz_xc, training, gx, gweight, gbias);
}

}  // namespace

void batch_norm_silu_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                             const Tensor& save_mean, const Tensor& save_invstd) {
  // z first, then silu in place while the plane is in cache: the same loops
  // as batch_norm then silu, without the round trip through memory.
  batch_norm_forward_planes(x, weight, bias, running_mean, running_var, training, momentum, eps, y, save_mean,
                            save_invstd, [](auto* z, int64_t n) { silu_in_place(z, n); });
}

void batch_norm_silu_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& save_mean,
                              const Tensor& save_invstd, const Tensor& gy, bool training, const Tensor& gx,
                              const Tensor& gweight, const Tensor& gbias) {
  if (bf16::widened(batch_norm_silu_backward, x, weight, bias, save_mean, save_invstd, gy, training, bf16::out(gx),
                    bf16::out(gweight), bf16::out(gbias)))
    return;
  dispatch_float(x.dtype(), "batch_norm_silu_backward", [&](auto tag) {
    backward_impl<SONO_TYPE(tag)>(x, weight, bias, save_mean, save_invstd, gy, training, gx, gweight, gbias);
  });
}

}  // namespace sono::cpu
