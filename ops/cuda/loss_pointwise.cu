// MSE, BCE-with-logits and L1 on a cuda device (see ops/loss.h).
//
// Math (ops/math.h, shared with the CPU kernels), n elements:
//   forward   loss = (1/n) sum_i f(x_i, t_i), each term f in the tensor dtype,
//             summed in double
//   backward  gx_i = s * df/dx(x_i, t_i),  gt_i = s * df/dt(x_i, t_i),
//             s = T(grad_loss / n) read on the device (no host sync)
// Layout: input, target, grad_input, grad_target contiguous, equal shapes;
// loss and grad_loss are one-element device tensors; all f32, f64 or bf16
// (bf16: terms in float, outputs rounded to nearest even).
// Launch: forward is the deterministic two-pass reduce_items (partials per
// block, then one block); backward one grid-stride loop per wanted gradient.
// Outputs: loss, grad_input, grad_target are overwritten.
#include "core/cuda/launch.h"
#include "ops/cuda/block_reduce.cuh"
#include "ops/loss.h"
#include "ops/math.h"

namespace sono::cuda {

namespace {

// The element term of each kind and its partial derivatives.
template <PointwiseLoss K>
struct Terms;
template <>
struct Terms<PointwiseLoss::MSE> {
  template <class T>
  __device__ static T f(T x, T t) {
    return math::squared_error(x, t);
  }
  template <class T>
  __device__ static T dx(T x, T t) {
    return math::squared_error_grad(x, t);
  }
  template <class T>
  __device__ static T dt(T x, T t) {
    return -math::squared_error_grad(x, t);
  }
};
template <>
struct Terms<PointwiseLoss::BCEWithLogits> {
  template <class T>
  __device__ static T f(T x, T t) {
    return math::bce_with_logits(x, t);
  }
  template <class T>
  __device__ static T dx(T x, T t) {
    return math::bce_with_logits_grad(x, t);
  }
  template <class T>
  __device__ static T dt(T x, T t) {
    return math::bce_with_logits_grad_target(x, t);
  }
};
template <>
struct Terms<PointwiseLoss::L1> {
  template <class T>
  __device__ static T f(T x, T t) {
    return math::absolute_error(x, t);
  }
  template <class T>
  __device__ static T dx(T x, T t) {
    return math::absolute_error_grad(x, t);
  }
  template <class T>
  __device__ static T dt(T x, T t) {
    return -math::absolute_error_grad(x, t);
  }
};

template <class F>
void with_kind(PointwiseLoss kind, F&& f) {
  switch (kind) {
    case PointwiseLoss::MSE: return f(Terms<PointwiseLoss::MSE>{});
    case PointwiseLoss::BCEWithLogits: return f(Terms<PointwiseLoss::BCEWithLogits>{});
    case PointwiseLoss::L1: return f(Terms<PointwiseLoss::L1>{});
  }
}

template <class T, class K>
struct Term {
  const T* x;
  const T* t;
  __device__ double operator()(int64_t i) const {
    using C = compute_t<T>;
    return double(K::f(C(x[i]), C(t[i])));
  }
};

// wrt_input: out = s * df/dx, else out = s * df/dt.
template <class T, class K, bool wrt_input>
struct Grad {
  const T* x;
  const T* t;
  const T* grad_loss;
  T* out;
  double n;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    const C s = C(double(grad_loss[0]) / n), xi = C(x[i]), ti = C(t[i]);
    out[i] = scalar_cast<T>(s * (wrt_input ? K::dx(xi, ti) : K::dt(xi, ti)));
  }
};

}  // namespace

void pointwise_loss_forward(PointwiseLoss kind, const Tensor& input, const Tensor& target, const Tensor& loss) {
  const int64_t n = input.numel();
  dispatch_real(input.dtype(), "pointwise_loss", [&](auto tag) {
    using T = SONO_TYPE(tag);
    with_kind(kind, [&](auto terms) {
      using K = decltype(terms);
      reduce_items(input.device().index, n, Term<T, K>{input.data<T>(), target.data<T>()}, SumOp{}, 0.0,
                   StoreQuotient<T>{loss.data<T>(), double(n)});
    });
  });
}

void pointwise_loss_backward(PointwiseLoss kind, const Tensor& input, const Tensor& target, const Tensor& grad_loss,
                             const Tensor& grad_input, const Tensor& grad_target) {
  const int64_t n = input.numel();
  const int device = input.device().index;
  dispatch_real(input.dtype(), "pointwise_loss_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const T *x = input.data<T>(), *t = target.data<T>(), *gl = grad_loss.data<T>();
    with_kind(kind, [&](auto terms) {
      using K = decltype(terms);
      if (grad_input.defined()) parallel_for(device, n, Grad<T, K, true>{x, t, gl, grad_input.data<T>(), double(n)});
      if (grad_target.defined()) parallel_for(device, n, Grad<T, K, false>{x, t, gl, grad_target.data<T>(), double(n)});
    });
  });
}

}  // namespace sono::cuda
