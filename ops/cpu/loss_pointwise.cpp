// MSE, BCE-with-logits and L1: mean over all elements of f(x, t).
// Layout: input and target contiguous, equal shape. Outputs: the scalar loss
// and the requested gradients (input, target) are overwritten. f32 BCE takes
// its exp and sigmoid from ops/cpu/vec_math.h (the same formulas, vectorised).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "ops/cpu/vec_math.h"
#include "ops/loss.h"
#include "ops/math.h"

namespace sono::cpu {

namespace {

// Per kind: the element term f and its partial derivatives.
struct Mse {
  template <class T>
  static T f(T x, T t) {
    return math::squared_error(x, t);
  }
  template <class T>
  static T dx(T x, T t) {
    return math::squared_error_grad(x, t);
  }
  template <class T>
  static T dt(T x, T t) {
    return -math::squared_error_grad(x, t);
  }
};
struct BceWithLogits {
  template <class T>
  static T f(T x, T t) {
    return math::bce_with_logits(x, t);
  }
  template <class T>
  static T dx(T x, T t) {
    return math::bce_with_logits_grad(x, t);
  }
  template <class T>
  static T dt(T x, T t) {
    return math::bce_with_logits_grad_target(x, t);
  }
};
struct L1 {
  template <class T>
  static T f(T x, T t) {
    return math::absolute_error(x, t);
  }
  template <class T>
  static T dx(T x, T t) {
    return math::absolute_error_grad(x, t);
  }
  template <class T>
  static T dt(T x, T t) {
    return -math::absolute_error_grad(x, t);
  }
};

constexpr int64_t kChunk = 8192;

// f32 BCE with logits over [i0, i0 + n), n <= kChunk: the sum of
// math::bce_with_logits, and scale * math::bce_with_logits_grad into gx.
double bce_sum(const float* x, const float* t, int64_t n) {
  static thread_local float e[kChunk];  // exp(-|x|); off the stack, which may be small in OpenMP threads
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) e[i] = -std::fabs(x[i]);
  vec::exp(e, e, n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double((x[i] > 0.0f ? x[i] : 0.0f) - x[i] * t[i] + std::log1p(e[i]));
  return s;
}
void bce_grad(const float* x, const float* t, float scale, int64_t n, float* gx) {
  vec::sigmoid(x, gx, n);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) gx[i] = scale * (gx[i] - t[i]);
}
template <class Terms, class scalar_t>
constexpr bool kBceF32 = std::is_same_v<Terms, BceWithLogits>&& std::is_same_v<scalar_t, float>;

template <class F>
void with_terms(PointwiseLoss kind, F&& f) {
  switch (kind) {
    case PointwiseLoss::MSE: return f(Mse{});
    case PointwiseLoss::BCEWithLogits: return f(BceWithLogits{});
    case PointwiseLoss::L1: return f(L1{});
  }
}

}  // namespace

void pointwise_loss_forward(PointwiseLoss kind, const Tensor& input, const Tensor& target, const Tensor& loss) {
  if (bf16::widened(pointwise_loss_forward, kind, input, target, bf16::out(loss))) return;
  const int64_t n = input.numel();
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  // Partial sums per fixed chunk, added in order: thread-count independent.
  std::vector<double> partial(static_cast<size_t>(chunks));
  dispatch_float(input.dtype(), "pointwise_loss", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* x = input.data<scalar_t>();
    const scalar_t* t = target.data<scalar_t>();
    with_terms(kind, [&](auto terms) {
      using Terms = decltype(terms);
      parallel_for(chunks, worth_parallel(n), [&](int64_t ci0, int64_t ci1) {
        for (int64_t ci = ci0; ci < ci1; ++ci) {
          const int64_t end = std::min(n, (ci + 1) * kChunk);
          if constexpr (kBceF32<Terms, scalar_t>) {
            partial[size_t(ci)] = bce_sum(x + ci * kChunk, t + ci * kChunk, end - ci * kChunk);
            continue;
          }
          double s = 0;
#pragma omp simd reduction(+ : s)
          for (int64_t i = ci * kChunk; i < end; ++i) s += double(Terms::f(x[i], t[i]));
          partial[size_t(ci)] = s;
        }
      });
    });
    double total = 0;
    for (double v : partial) total += v;
    loss.data<scalar_t>()[0] = scalar_t(total / double(n));
  });
}

void pointwise_loss_backward(PointwiseLoss kind, const Tensor& input, const Tensor& target, const Tensor& grad_loss,
                             const Tensor& grad_input, const Tensor& grad_target) {
  if (bf16::widened(pointwise_loss_backward, kind, input, target, grad_loss, bf16::out(grad_input),
                    bf16::out(grad_target)))
    return;
  const int64_t n = input.numel();
  dispatch_float(input.dtype(), "pointwise_loss_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* x = input.data<scalar_t>();
    const scalar_t* t = target.data<scalar_t>();
    const scalar_t scale = scalar_t(grad_loss.item() / double(n));
    with_terms(kind, [&](auto terms) {
      using Terms = decltype(terms);
      if (grad_input.defined()) {
        scalar_t* gx = grad_input.data<scalar_t>();
        if constexpr (kBceF32<Terms, scalar_t>) {
          const int64_t chunks = (n + kChunk - 1) / kChunk;
          parallel_for(chunks, worth_parallel(n), [&](int64_t ci0, int64_t ci1) {
            for (int64_t ci = ci0; ci < ci1; ++ci)
              bce_grad(x + ci * kChunk, t + ci * kChunk, scale, std::min(kChunk, n - ci * kChunk), gx + ci * kChunk);
          });
        } else {
          parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
            for (int64_t i = i0; i < i1; ++i) gx[i] = scale * Terms::dx(x[i], t[i]);
          });
        }
      }
      if (grad_target.defined()) {
        scalar_t* gt = grad_target.data<scalar_t>();
        parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) gt[i] = scale * Terms::dt(x[i], t[i]);
        });
      }
    });
  });
}

}  // namespace sono::cpu
