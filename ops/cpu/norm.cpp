// Batch and group normalization share one structure on the CPU: x [N, C, S...]
// is N*C contiguous planes; statistics are per-plane sums combined over the
// planes of a channel (batch norm) or of a (sample, group) (group norm), and
// every element-wise pass applies per-plane coefficients.
// Outputs: y, save_mean / save_invstd, gx, gweight and gbias are overwritten;
// the running statistics are updated in place (training batch norm only).
#include <cmath>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "ops/cpu/norm_planes.h"
#include "ops/norm.h"

namespace sono::cpu {

namespace {

using namespace norm;

// The plain normalization: nothing after the affine map.
template <class T>
void plane_normalize(const T* x, T* y, const Planes& pl, const PlaneAffine& k) {
  norm::plane_normalize(x, y, pl, k, [](T*, int64_t) {});
}

// Per-plane sums of gy and gy * (x - mean[p]), in double.
template <class T>
void plane_grad_sums(const T* x, const T* gy, const Planes& pl, const std::vector<double>& mean,
                     std::vector<double>& sum_gy, std::vector<double>& sum_gy_xc) {
  sum_gy.assign(size_t(pl.count()), 0.0);
  sum_gy_xc.assign(size_t(pl.count()), 0.0);
  const int64_t s = pl.s;
  parallel_for(pl.count(), pl.parallel(), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
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
  });
}

template <class T>
void batch_norm_backward_impl(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                              const Tensor& gy, bool training, const Tensor& gx, const Tensor& gweight,
                              const Tensor& gbias) {
  const Planes pl(x);
  const int64_t C = pl.c;
  const std::vector<double> mean = values_or<T>(save_mean, C, 0.0), invstd = values_or<T>(save_invstd, C, 1.0);
  // Per-plane sums of gy and gy * (x - mean); eval-mode gx does not need them.
  std::vector<double> a(size_t(pl.count()), 0.0), b(size_t(pl.count()), 0.0);
  if (training || gweight.defined() || gbias.defined()) {
    std::vector<double> plane_mean(size_t(pl.count()));
    for (int64_t p = 0; p < pl.count(); ++p) plane_mean[size_t(p)] = mean[size_t(p % C)];
    plane_grad_sums(x.data<T>(), gy.data<T>(), pl, plane_mean, a, b);
  }
  batch_norm_backward_from_sums<T>(x, gy.data<T>(), pl, mean, invstd, weight, a, b, training, gx, gweight, gbias);
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
  PlaneAffine k(pl.count());
  for (int64_t p = 0; p < pl.count(); ++p) {
    const size_t c = size_t(p % C), g = size_t(p / D);
    k.mean[size_t(p)] = mean[g];
    k.scale[size_t(p)] = w[c] * invstd[g];
    k.shift[size_t(p)] = b[c];
  }
  plane_normalize(xd, y.data<T>(), pl, k);
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
  batch_norm_forward_planes(x, weight, bias, running_mean, running_var, training, momentum, eps, y, save_mean,
                            save_invstd, [](auto*, int64_t) {});
}

void batch_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         const Tensor& gy, bool training, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias) {
  if (bf16::widened(batch_norm_backward, x, weight, save_mean, save_invstd, gy, training, bf16::out(gx),
                    bf16::out(gweight), bf16::out(gbias)))
    return;
  dispatch_float(x.dtype(), "batch_norm_backward", [&](auto tag) {
    batch_norm_backward_impl<SONO_TYPE(tag)>(x, weight, save_mean, save_invstd, gy, training, gx, gweight, gbias);
  });
}

void group_norm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t groups, double eps,
                        const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  if (bf16::widened(group_norm_forward, x, weight, bias, groups, eps, bf16::out(y), bf16::out(save_mean),
                    bf16::out(save_invstd)))
    return;
  dispatch_float(x.dtype(), "group_norm", [&](auto tag) {
    group_norm_forward_impl<SONO_TYPE(tag)>(x, weight, bias, groups, eps, y, save_mean, save_invstd);
  });
}

void group_norm_backward(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         int64_t groups, const Tensor& gy, const Tensor& gx, const Tensor& gweight,
                         const Tensor& gbias) {
  if (bf16::widened(group_norm_backward, x, weight, save_mean, save_invstd, groups, gy, bf16::out(gx),
                    bf16::out(gweight), bf16::out(gbias)))
    return;
  dispatch_float(x.dtype(), "group_norm_backward", [&](auto tag) {
    group_norm_backward_impl<SONO_TYPE(tag)>(x, weight, save_mean, save_invstd, groups, gy, gx, gweight, gbias);
  });
}

}  // namespace sono::cpu
