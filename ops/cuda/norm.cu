// Batch and group normalization on a cuda device (see ops/norm.h), the same
// arithmetic and statistics as ops/cpu/norm.cpp.
//
// x [N, C, S...] is N*C contiguous planes of S elements; plane p = n*C + c.
// A plane belongs to statistics key k(p): its channel c (batch norm) or its
// (sample, group) p / D (group norm, D = C / groups channels per group).
// Math, all sums in double:
//   forward   per plane: s1 = sum (x - k0), s2 = sum (x - k0)^2 with k0 the
//             key's first value (a shift that keeps the one-pass variance
//             exact); per key: d = s1/count, var = max(s2/count - d^2, 0),
//             mean = k0 + d, invstd = 1/sqrt(var + eps). Batch norm training
//             updates running_mean/var in place (unbiased var); eval reads them.
//             y = (x - P(mean)) * P(w_c * invstd) + P(b_c)
//   backward  per plane: a = sum gy, b = sum gy * (x - mean); per channel
//             gbias = sum_n a, gweight = sum_n b * invstd;
//             gx = alpha*gy + beta*(x - T(mean)) + gamma, coefficients per plane:
//             batch norm  alpha = w*inv, beta = -alpha*inv^2*sum_b/count,
//                         gamma = -alpha*sum_a/count (beta = gamma = 0 in eval)
//             group norm  with h = w*gy: alpha = inv*w, beta = -inv^3*sum_h_xc/count,
//                         gamma = -inv*sum_h/count
// Layout: x, y, gy, gx contiguous; weight, bias, running stats contiguous [C]
// or undefined (null); save_mean/save_invstd [C] (batch) or [N, groups].
// dtypes: x, y, gy, gx f32, f64 or bf16 (T); the per-channel and saved values
// P = compute_t<T> (f32 beside bf16; a bf16 weight, bias or running stat gets
// an f32 stand-in, ChannelArgs), the element math in P, T(.) and P(.) above
// the roundings (to nearest even for bf16).
// Launch: one block per plane for the plane sums (fixed-order block_reduce),
// one thread per key for the statistics (planes added in sample order, like
// the CPU), one thread per plane for its coefficients, and one grid-stride
// loop per element-wise pass. Deterministic, no atomics.
// Outputs: y, gx, gweight, gbias, save_mean, save_invstd are overwritten;
// running_mean/running_var are updated in place (batch norm training).
#include "ops/cuda/norm_planes.cuh"
#include "ops/norm.h"

namespace sono::cuda {

using namespace norm;

void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                        const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                        const Tensor& save_mean, const Tensor& save_invstd) {
  batch_norm_forward_any<false>("batch_norm", x, weight, bias, running_mean, running_var, training, momentum, eps, y,
                                save_mean, save_invstd);
}

void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         const Tensor& gy, bool training, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias) {
  const Keys keys = batch_keys(x);
  ChannelArgs ch(x, "batch_norm_backward");
  const Tensor w = ch.in(weight, "weight"), sm = ch.in(save_mean, "save_mean"), si = ch.in(save_invstd, "save_invstd");
  const Tensor gw = ch.out(gweight, "grad_weight"), gb = ch.out(gbias, "grad_bias");
  dispatch_real(x.dtype(), "batch_norm_backward", [&](auto tag) {
    normalize_backward<SONO_TYPE(tag)>(x, w, sm, si, gy, training, keys, keys.channels,
                                       double(x.size(0) * keys.plane_size), gx, gw, gb);
  });
  ch.finish();
}

void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t groups, double eps,
                        const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  const Keys keys = group_keys(x, groups);
  const int64_t N = x.size(0), G = N * groups;
  const int device = x.device().index;
  ChannelArgs ch(x, "group_norm");
  const Tensor w = ch.in(weight, "weight"), b = ch.in(bias, "bias");
  const Tensor sm = ch.out(save_mean, "save_mean"), si = ch.out(save_invstd, "save_invstd");
  dispatch_real(x.dtype(), "group_norm", [&](auto tag) {
    using T = SONO_TYPE(tag);
    using P = compute_t<T>;
    Tensor sums = f64_buffer(2 * N * keys.channels, x), stats = f64_buffer(2 * G, x);
    plane_sums<T, false>(x, Tensor(), Tensor(), keys, sums);
    parallel_for(device, G,
                 KeyStats<T>{x.data<T>(), sums.data<double>(), keys, N, double(keys.per_group * keys.plane_size), eps,
                             0.0, false, nullptr, nullptr, sm.data<P>(), si.data<P>(), stats.data<double>()});
    normalize_forward<T>(x, w, b, keys, stats, y);
  });
  ch.finish();
}

void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         int64_t groups, const Tensor& gy, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias) {
  const Keys keys = group_keys(x, groups);
  ChannelArgs ch(x, "group_norm_backward");
  const Tensor w = ch.in(weight, "weight"), sm = ch.in(save_mean, "save_mean"), si = ch.in(save_invstd, "save_invstd");
  const Tensor gw = ch.out(gweight, "grad_weight"), gb = ch.out(gbias, "grad_bias");
  dispatch_real(x.dtype(), "group_norm_backward", [&](auto tag) {
    normalize_backward<SONO_TYPE(tag)>(x, w, sm, si, gy, true, keys, x.size(0) * groups,
                                       double(keys.per_group * keys.plane_size), gx, gw, gb);
  });
  ch.finish();
}

}  // namespace sono::cuda
