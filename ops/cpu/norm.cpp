// Batch and group normalization share one structure on the CPU: x [N, C, S...]
// is N*C contiguous planes; statistics are per-plane sums combined over the
// planes of a channel (batch norm) or of a (sample, group) (group norm), and
// every element-wise pass applies per-plane coefficients.
// Outputs: y, save_mean / save_invstd, gx, gweight and gbias are overwritten;
// the running statistics are updated in place (training batch norm only).
#include <cmath>
#include <vector>

#include "ops/norm.h"

namespace sono::cpu {

namespace {

constexpr int64_t kParallelElems = 32768;  // below this, starting threads costs more than it saves

struct Planes {
  int64_t n, c, s;  // plane p = n_idx * c + c_idx holds s contiguous elements
  explicit Planes(const Tensor& x) : n(x.size(0)), c(x.size(1)), s(x.numel() / (x.size(0) * x.size(1))) {}
  int64_t count() const { return n * c; }
  bool parallel() const { return n * c * s > kParallelElems; }
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
std::vector<double> sum_over_samples(const std::vector<double>& per_plane, const Planes& pl) {
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
#pragma omp parallel for if (pl.parallel())
  for (int64_t p = 0; p < pl.count(); ++p) {
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
}

// y = (x - mean[p]) * scale[p] + shift[p]
template <class T>
void plane_normalize(const T* x, T* y, const Planes& pl, const std::vector<double>& mean,
                     const std::vector<double>& scale, const std::vector<double>& shift) {
  const int64_t s = pl.s;
#pragma omp parallel for if (pl.parallel())
  for (int64_t p = 0; p < pl.count(); ++p) {
    const T* src = x + p * s;
    T* dst = y + p * s;
    const T m = T(mean[size_t(p)]), a = T(scale[size_t(p)]), b = T(shift[size_t(p)]);
#pragma omp simd
    for (int64_t i = 0; i < s; ++i) dst[i] = (src[i] - m) * a + b;
  }
}

// Per-plane sums of gy and gy * (x - mean[p]), in double.
template <class T>
void plane_grad_sums(const T* x, const T* gy, const Planes& pl, const std::vector<double>& mean,
                     std::vector<double>& sum_gy, std::vector<double>& sum_gy_xc) {
  sum_gy.assign(size_t(pl.count()), 0.0);
  sum_gy_xc.assign(size_t(pl.count()), 0.0);
  const int64_t s = pl.s;
#pragma omp parallel for if (pl.parallel())
  for (int64_t p = 0; p < pl.count(); ++p) {
    const T* xs = x + p * s;
    const T* gs = gy + p * s;
    const double m = mean[size_t(p)];
    double a = 0, b = 0;
#pragma omp simd reduction(+ : a, b)
    for (int64_t i = 0; i < s; ++i) {
      const double g = double(gs[i]);
      a += g;
      b += g * (double(xs[i]) - m);
    }
    sum_gy[size_t(p)] = a;
    sum_gy_xc[size_t(p)] = b;
  }
}

// gx = alpha[p] * gy + beta[p] * (x - mean[p]) + gamma[p]
struct InputGradCoeffs {
  std::vector<double> mean, alpha, beta, gamma;
  explicit InputGradCoeffs(int64_t planes)
      : mean(size_t(planes)), alpha(size_t(planes)), beta(size_t(planes)), gamma(size_t(planes)) {}
};

template <class T>
void plane_input_grad(const T* x, const T* gy, T* gx, const Planes& pl, const InputGradCoeffs& k) {
  const int64_t s = pl.s;
#pragma omp parallel for if (pl.parallel())
  for (int64_t p = 0; p < pl.count(); ++p) {
    const T* xs = x + p * s;
    const T* gs = gy + p * s;
    T* dst = gx + p * s;
    const size_t q = size_t(p);
    const T m = T(k.mean[q]), a = T(k.alpha[q]), b = T(k.beta[q]), c = T(k.gamma[q]);
#pragma omp simd
    for (int64_t i = 0; i < s; ++i) dst[i] = a * gs[i] + b * (xs[i] - m) + c;
  }
}

template <class T>
void batch_norm_forward_impl(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                             const Tensor& save_mean, const Tensor& save_invstd) {
  const Planes pl(x);
  const T* xd = x.data<T>();
  const int64_t C = pl.c;
  std::vector<double> mean(size_t(C), 0.0), invstd(size_t(C), 0.0);
  if (training) {
    std::vector<double> shift(size_t(pl.count()), 0.0), s1, s2;
    for (int64_t p = 0; p < pl.count(); ++p) shift[size_t(p)] = double(xd[(p % C) * pl.s]);  // x[0, c, 0]
    plane_moments(xd, pl, shift, s1, s2);
    const std::vector<double> sum1 = sum_over_samples(s1, pl), sum2 = sum_over_samples(s2, pl);
    const double count = double(pl.n * pl.s);
    for (int64_t c = 0; c < C; ++c) {
      const double d = sum1[size_t(c)] / count;
      const double var = std::max(sum2[size_t(c)] / count - d * d, 0.0);  // biased: used to normalize
      mean[size_t(c)] = shift[size_t(c)] + d;
      invstd[size_t(c)] = 1.0 / std::sqrt(var + eps);
      if (running_mean.defined()) {
        T& rm = running_mean.data<T>()[c];
        rm = T((1.0 - momentum) * double(rm) + momentum * mean[size_t(c)]);
      }
      if (running_var.defined()) {
        T& rv = running_var.data<T>()[c];
        rv = T((1.0 - momentum) * double(rv) + momentum * var * count / (count - 1.0));  // unbiased
      }
    }
  } else {
    mean = values_or<T>(running_mean, C, 0.0);
    const std::vector<double> var = values_or<T>(running_var, C, 1.0);
    for (int64_t c = 0; c < C; ++c) invstd[size_t(c)] = 1.0 / std::sqrt(var[size_t(c)] + eps);
  }
  store<T>(save_mean, mean);
  store<T>(save_invstd, invstd);

  const std::vector<double> w = values_or<T>(weight, C, 1.0), b = values_or<T>(bias, C, 0.0);
  std::vector<double> pm(size_t(pl.count()), 0.0), scale(size_t(pl.count()), 0.0), shift(size_t(pl.count()), 0.0);
  for (int64_t p = 0; p < pl.count(); ++p) {
    const size_t c = size_t(p % C);
    pm[size_t(p)] = mean[c];
    scale[size_t(p)] = w[c] * invstd[c];
    shift[size_t(p)] = b[c];
  }
  plane_normalize(xd, y.data<T>(), pl, pm, scale, shift);
}

template <class T>
void batch_norm_backward_impl(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                              const Tensor& gy, bool training, const Tensor& gx, const Tensor& gweight,
                              const Tensor& gbias) {
  const Planes pl(x);
  const int64_t C = pl.c;
  const std::vector<double> mean = values_or<T>(save_mean, C, 0.0), invstd = values_or<T>(save_invstd, C, 1.0);
  const std::vector<double> w = values_or<T>(weight, C, 1.0);
  InputGradCoeffs k(pl.count());
  for (int64_t p = 0; p < pl.count(); ++p) k.mean[size_t(p)] = mean[size_t(p % C)];

  // Per-channel sums of gy and gy * (x - mean); eval-mode gx does not need them.
  std::vector<double> sum_gy(size_t(C), 0.0), sum_gy_xc(size_t(C), 0.0);
  if (training || gweight.defined() || gbias.defined()) {
    std::vector<double> a, b;
    plane_grad_sums(x.data<T>(), gy.data<T>(), pl, k.mean, a, b);
    sum_gy = sum_over_samples(a, pl);
    sum_gy_xc = sum_over_samples(b, pl);
  }
  if (gbias.defined()) store<T>(gbias, sum_gy);
  if (gweight.defined()) {
    std::vector<double> gw(size_t(C), 0.0);
    for (int64_t c = 0; c < C; ++c) gw[size_t(c)] = sum_gy_xc[size_t(c)] * invstd[size_t(c)];
    store<T>(gweight, gw);
  }
  if (!gx.defined()) return;
  // training: gx = w*invstd * (gy - mean(gy) - xhat * mean(gy * xhat)), the
  // means over the channel's N*S values; eval: the statistics are constants.
  const double count = double(pl.n * pl.s);
  for (int64_t p = 0; p < pl.count(); ++p) {
    const size_t c = size_t(p % C), q = size_t(p);
    const double wi = w[c] * invstd[c];
    k.alpha[q] = wi;
    k.beta[q] = training ? -wi * invstd[c] * invstd[c] * sum_gy_xc[c] / count : 0.0;
    k.gamma[q] = training ? -wi * sum_gy[c] / count : 0.0;
  }
  plane_input_grad(x.data<T>(), gy.data<T>(), gx.data<T>(), pl, k);
}

template <class T>
void group_norm_forward_impl(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t groups, double eps,
                             const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  const Planes pl(x);
  const T* xd = x.data<T>();
  const int64_t C = pl.c, D = C / groups, G = pl.n * groups;  // D channels per group, G (sample, group) pairs
  std::vector<double> shift(size_t(pl.count()), 0.0), s1, s2;
  for (int64_t p = 0; p < pl.count(); ++p) shift[size_t(p)] = double(xd[(p / D) * D * pl.s]);  // group's first value
  plane_moments(xd, pl, shift, s1, s2);
  const double count = double(D * pl.s);
  std::vector<double> mean(size_t(G), 0.0), invstd(size_t(G), 0.0);
  for (int64_t g = 0; g < G; ++g) {
    double a = 0, b = 0;
    for (int64_t p = g * D; p < (g + 1) * D; ++p) a += s1[size_t(p)], b += s2[size_t(p)];
    const double d = a / count;
    mean[size_t(g)] = shift[size_t(g * D)] + d;
    invstd[size_t(g)] = 1.0 / std::sqrt(std::max(b / count - d * d, 0.0) + eps);
  }
  store<T>(save_mean, mean);
  store<T>(save_invstd, invstd);

  const std::vector<double> w = values_or<T>(weight, C, 1.0), b = values_or<T>(bias, C, 0.0);
  std::vector<double> pm(size_t(pl.count()), 0.0), scale(size_t(pl.count()), 0.0), sh(size_t(pl.count()), 0.0);
  for (int64_t p = 0; p < pl.count(); ++p) {
    const size_t c = size_t(p % C), g = size_t(p / D);
    pm[size_t(p)] = mean[g];
    scale[size_t(p)] = w[c] * invstd[g];
    sh[size_t(p)] = b[c];
  }
  plane_normalize(xd, y.data<T>(), pl, pm, scale, sh);
}

template <class T>
void group_norm_backward_impl(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                              int64_t groups, const Tensor& gy, const Tensor& gx, const Tensor& gweight,
                              const Tensor& gbias) {
  const Planes pl(x);
  const int64_t C = pl.c, D = C / groups, G = pl.n * groups;
  const std::vector<double> mean = values_or<T>(save_mean, G, 0.0), invstd = values_or<T>(save_invstd, G, 1.0);
  const std::vector<double> w = values_or<T>(weight, C, 1.0);
  InputGradCoeffs k(pl.count());
  for (int64_t p = 0; p < pl.count(); ++p) k.mean[size_t(p)] = mean[size_t(p / D)];
  std::vector<double> a, b;  // per plane: sum gy, sum gy * (x - mean)
  plane_grad_sums(x.data<T>(), gy.data<T>(), pl, k.mean, a, b);

  if (gbias.defined()) store<T>(gbias, sum_over_samples(a, pl));
  if (gweight.defined()) {
    std::vector<double> b_hat(b.size());  // sum of gy * xhat per plane
    for (int64_t p = 0; p < pl.count(); ++p) b_hat[size_t(p)] = b[size_t(p)] * invstd[size_t(p / D)];
    store<T>(gweight, sum_over_samples(b_hat, pl));
  }
  if (!gx.defined()) return;
  // With h = w * gy (the gradient w.r.t. the normalized value) and means over
  // the group's D*S values: gx = invstd * (h - mean(h) - xhat * mean(h * xhat)).
  const double count = double(D * pl.s);
  for (int64_t g = 0; g < G; ++g) {
    double sum_h = 0, sum_h_xc = 0;
    for (int64_t p = g * D; p < (g + 1) * D; ++p) {
      sum_h += w[size_t(p % C)] * a[size_t(p)];
      sum_h_xc += w[size_t(p % C)] * b[size_t(p)];
    }
    const double inv = invstd[size_t(g)];
    for (int64_t p = g * D; p < (g + 1) * D; ++p) {
      k.alpha[size_t(p)] = inv * w[size_t(p % C)];
      k.beta[size_t(p)] = -inv * inv * inv * sum_h_xc / count;
      k.gamma[size_t(p)] = -inv * sum_h / count;
    }
  }
  plane_input_grad(x.data<T>(), gy.data<T>(), gx.data<T>(), pl, k);
}

}  // namespace

void batch_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                        const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                        const Tensor& save_mean, const Tensor& save_invstd) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag) {
    batch_norm_forward_impl<SONO_TYPE(tag)>(x, weight, bias, running_mean, running_var, training, momentum, eps, y,
                                            save_mean, save_invstd);
  });
}

void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         const Tensor& gy, bool training, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias) {
  dispatch_float(x.dtype(), "batch_norm_backward", [&](auto tag) {
    batch_norm_backward_impl<SONO_TYPE(tag)>(x, weight, save_mean, save_invstd, gy, training, gx, gweight, gbias);
  });
}

void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t groups, double eps,
                        const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  dispatch_float(x.dtype(), "group_norm", [&](auto tag) {
    group_norm_forward_impl<SONO_TYPE(tag)>(x, weight, bias, groups, eps, y, save_mean, save_invstd);
  });
}

void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         int64_t groups, const Tensor& gy, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias) {
  dispatch_float(x.dtype(), "group_norm_backward", [&](auto tag) {
    group_norm_backward_impl<SONO_TYPE(tag)>(x, weight, save_mean, save_invstd, groups, gy, gx, gweight, gbias);
  });
}

}  // namespace sono::cpu
