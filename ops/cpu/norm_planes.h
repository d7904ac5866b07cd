#pragma once
// The plane structure shared by the CPU normalization kernels (ops/cpu/norm.cpp
// and the fused ops/cpu/batch_norm_silu.cpp): x [N, C, S...] is N*C contiguous
// planes of S elements; statistics are per-plane sums combined over the planes
// of a channel (batch norm) or of a (sample, group) (group norm), and every
// element-wise pass applies per-plane coefficients. All sums are in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace sono::cpu::norm {

struct Planes {
  int64_t n, c, s;  // plane p = n_idx * c + c_idx holds s contiguous elements
  explicit Planes(const Tensor& x) : n(x.size(0)), c(x.size(1)), s(x.numel() / (x.size(0) * x.size(1))) {}
  int64_t count() const { return n * c; }
  bool parallel() const { return worth_parallel(n * c * s); }
};

// A per-channel tensor as doubles; `fallback` everywhere when undefined (no affine).
template <class T>
std::vector<double> values_or(const Tensor& t, int64_t size, double fallback) {
  std::vector<double> v(size_t(size), fallback);
  if (t.defined()) {
    const T* d = t.data<T>();
    for (int64_t i = 0; i < size; ++i) v[size_t(i)] = double(d[i]);
  }
  return v;
}

// Per-channel sums of per-plane values, over the samples in a fixed order.
inline std::vector<double> sum_over_samples(const std::vector<double>& per_plane, const Planes& pl) {
  std::vector<double> out(size_t(pl.c), 0.0);
  for (int64_t n = 0; n < pl.n; ++n)
    for (int64_t c = 0; c < pl.c; ++c) out[size_t(c)] += per_plane[size_t(n * pl.c + c)];
  return out;
}

template <class T>
void store(const Tensor& t, const std::vector<double>& v) {
  T* d = t.data<T>();
  for (size_t i = 0; i < v.size(); ++i) d[i] = T(v[i]);
}

// Per-plane sums of (x - shift[p]) and its square, in double, in one pass.
// shift[p] is a value of the plane's own statistics group, so it lies within
// a few standard deviations of the mean and the one-pass variance does not
// cancel catastrophically.
template <class T>
void plane_moments(const T* x, const Planes& pl, const std::vector<double>& shift, std::vector<double>& s1,
                   std::vector<double>& s2) {
  s1.assign(size_t(pl.count()), 0.0);
  s2.assign(size_t(pl.count()), 0.0);
  const int64_t s = pl.s;
  parallel_for(pl.count(), pl.parallel(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* src = x + p * s;
      const double k = shift[size_t(p)];
      double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
      for (int64_t i = 0; i < s; ++i) {
        const double d = double(src[i]) - k;
        a += d;
        b += d * d;
      }
      s1[size_t(p)] = a;
      s2[size_t(p)] = b;
    }
  });
}

// Per-plane affine map of a normalization: z = (x - mean[p]) * scale[p] + shift[p].
struct PlaneAffine {
  std::vector<double> mean, scale, shift;
  explicit PlaneAffine(int64_t planes) : mean(size_t(planes)), scale(size_t(planes)), shift(size_t(planes)) {}
};

// Batch norm's per-channel statistics, in double: training takes one pass
// over x (plane_moments) and updates the running statistics in place (when
// defined); eval reads them. save_mean / save_invstd receive them as T.
struct ChannelStats {
  std::vector<double> mean, invstd;
};

template <class T>
ChannelStats batch_norm_statistics(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                                   bool training, double momentum, double eps, const Tensor& save_mean,
                                   const Tensor& save_invstd) {
  const Planes pl(x);
  const T* xd = x.data<T>();
  const int64_t C = pl.c;
  ChannelStats st{std::vector<double>(size_t(C), 0.0), std::vector<double>(size_t(C), 0.0)};
  if (training) {
    std::vector<double> shift(size_t(pl.count()), 0.0), s1, s2;
    for (int64_t p = 0; p < pl.count(); ++p) shift[size_t(p)] = double(xd[(p % C) * pl.s]);  // x[0, c, 0]
    plane_moments(xd, pl, shift, s1, s2);
    const std::vector<double> sum1 = sum_over_samples(s1, pl), sum2 = sum_over_samples(s2, pl);
    const double count = double(pl.n * pl.s);
    for (int64_t c = 0; c < C; ++c) {
      const double d = sum1[size_t(c)] / count;
      const double var = std::max(sum2[size_t(c)] / count - d * d, 0.0);  // biased: used to normalize
      st.mean[size_t(c)] = shift[size_t(c)] + d;
      st.invstd[size_t(c)] = 1.0 / std::sqrt(var + eps);
      if (running_mean.defined()) {
        T& rm = running_mean.data<T>()[c];
        rm = T((1.0 - momentum) * double(rm) + momentum * st.mean[size_t(c)]);
      }
      if (running_var.defined()) {
        T& rv = running_var.data<T>()[c];
        rv = T((1.0 - momentum) * double(rv) + momentum * var * count / (count - 1.0));  // unbiased
      }
    }
  } else {
    st.mean = values_or<T>(running_mean, C, 0.0);
    const std::vector<double> var = values_or<T>(running_var, C, 1.0);
    for (int64_t c = 0; c < C; ++c) st.invstd[size_t(c)] = 1.0 / std::sqrt(var[size_t(c)] + eps);
  }
  store<T>(save_mean, st.mean);
  store<T>(save_invstd, st.invstd);
  return st;
}

// The per-plane map y = (x - mean) * (w * invstd) + b of batch norm.
template <class T>
PlaneAffine batch_norm_affine(const Planes& pl, const std::vector<double>& mean, const std::vector<double>& invstd,
                              const Tensor& weight, const Tensor& bias) {
  const std::vector<double> w = values_or<T>(weight, pl.c, 1.0), b = values_or<T>(bias, pl.c, 0.0);
  PlaneAffine a(pl.count());
  for (int64_t p = 0; p < pl.count(); ++p) {
    const size_t c = size_t(p % pl.c);
    a.mean[size_t(p)] = mean[c];
    a.scale[size_t(p)] = w[c] * invstd[c];
    a.shift[size_t(p)] = b[c];
  }
  return a;
}

// dst = (src - m) * a + b over one plane of s values: the normalized value z
// of every normalization pass (batch_norm's and group_norm's output, the fused
// BN + SiLU's forward and its backward's recomputed z).
template <class T>
inline void affine_plane(const T* src, T* dst, int64_t s, const PlaneAffine& k, int64_t p) {
  const T m = T(k.mean[size_t(p)]), a = T(k.scale[size_t(p)]), b = T(k.shift[size_t(p)]);
#pragma omp simd
  for (int64_t i = 0; i < s; ++i) dst[i] = (src[i] - m) * a + b;
}

// y = (x - mean[p]) * scale[p] + shift[p] plane by plane, then post(plane of
// y, s) while the plane is in cache.
template <class T, class Post>
void plane_normalize(const T* x, T* y, const Planes& pl, const PlaneAffine& k, Post post) {
  const int64_t s = pl.s;
  parallel_for(pl.count(), pl.parallel(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      affine_plane(x + p * s, y + p * s, s, k, p);
      post(y + p * s, s);
    }
  });
}

// batch_norm_forward (post: nothing) and the fused batch_norm_silu_forward
// (post: SiLU over each plane of z, in place): statistics, then y = post(z)
// plane by plane. bf16 operands run through f32 stand-ins (core/bf16_cpu.h).
template <class Post>
void batch_norm_forward_planes(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                               const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                               const Tensor& save_mean, const Tensor& save_invstd, Post post) {
  auto self = [&](const Tensor& x_, const Tensor& w_, const Tensor& b_, const Tensor& rm_, const Tensor& rv_,
                  const Tensor& y_, const Tensor& m_, const Tensor& i_) {
    batch_norm_forward_planes(x_, w_, b_, rm_, rv_, training, momentum, eps, y_, m_, i_, post);
  };
  if (bf16::widened(self, x, weight, bias, running_mean, running_var, bf16::out(y), bf16::out(save_mean),
                    bf16::out(save_invstd)))
    return;
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const Planes pl(x);
    const ChannelStats st =
        batch_norm_statistics<T>(x, running_mean, running_var, training, momentum, eps, save_mean, save_invstd);
    plane_normalize(x.data<T>(), y.data<T>(), pl, batch_norm_affine<T>(pl, st.mean, st.invstd, weight, bias), post);
  });
}

// gx = alpha[p] * g + beta[p] * (x - mean[p]) + gamma[p]
struct InputGradCoeffs {
  std::vector<double> mean, alpha, beta, gamma;
  explicit InputGradCoeffs(int64_t planes)
      : mean(size_t(planes)), alpha(size_t(planes)), beta(size_t(planes)), gamma(size_t(planes)) {}
};

// g and gx may be the same buffer (the fused op stores its gradient at the
// normalized value in gx and finishes gx in place).
template <class T>
void plane_input_grad(const T* x, const T* g, T* gx, const Planes& pl, const InputGradCoeffs& k) {
  const int64_t s = pl.s;
  parallel_for(pl.count(), pl.parallel(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xs = x + p * s;
      const T* gs = g + p * s;
      T* dst = gx + p * s;
      const size_t q = size_t(p);
      const T m = T(k.mean[q]), a = T(k.alpha[q]), b = T(k.beta[q]), c = T(k.gamma[q]);
#pragma omp simd
      for (int64_t i = 0; i < s; ++i) dst[i] = a * gs[i] + b * (xs[i] - m) + c;
    }
  });
}

// Batch norm's backward from the per-plane sums of the gradient g at its
// output, sum g and sum g * (x - mean): gbias, gweight and (when defined) gx,
// reading g again for gx. mean / invstd are the saved statistics.
template <class T>
void batch_norm_backward_from_sums(const Tensor& x, const T* g, const Planes& pl, const std::vector<double>& mean,
                                   const std::vector<double>& invstd, const Tensor& weight,
                                   const std::vector<double>& plane_sum_g, const std::vector<double>& plane_sum_g_xc,
                                   bool training, const Tensor& gx, const Tensor& gweight, const Tensor& gbias) {
  const int64_t C = pl.c;
  const std::vector<double> sum_g = sum_over_samples(plane_sum_g, pl), sum_g_xc = sum_over_samples(plane_sum_g_xc, pl);
  if (gbias.defined()) store<T>(gbias, sum_g);
  if (gweight.defined()) {
    std::vector<double> gw(size_t(C), 0.0);
    for (int64_t c = 0; c < C; ++c) gw[size_t(c)] = sum_g_xc[size_t(c)] * invstd[size_t(c)];
    store<T>(gweight, gw);
  }
  if (!gx.defined()) return;
  // training: gx = w*invstd * (g - mean(g) - xhat * mean(g * xhat)), the
  // means over the channel's N*S values; eval: the statistics are constants.
  const std::vector<double> w = values_or<T>(weight, C, 1.0);
  const double count = double(pl.n * pl.s);
  InputGradCoeffs k(pl.count());
  for (int64_t p = 0; p < pl.count(); ++p) {
    const size_t c = size_t(p % C), q = size_t(p);
    const double wi = w[c] * invstd[c];
    k.mean[q] = mean[c];
    k.alpha[q] = wi;
    k.beta[q] = training ? -wi * invstd[c] * invstd[c] * sum_g_xc[c] / count : 0.0;
    k.gamma[q] = training ? -wi * sum_g[c] / count : 0.0;
  }
  plane_input_grad(x.data<T>(), g, gx.data<T>(), pl, k);
}

}  // namespace sono::cpu::norm
