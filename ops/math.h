#pragma once
// Scalar math shared by the CPU and CUDA kernels. Everything element-wise
// lives here so the CPU tests exercise the exact expressions the GPU runs.
#include <cmath>

#include "core/macros.h"

namespace sono::math {

template <class T>
SONO_HD T sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
}
template <class T>
SONO_HD T silu(T x) {
  return x * sigmoid(x);
}
// d/dx x*s(x) = s(x) * (1 + x * (1 - s(x)))
template <class T>
SONO_HD T silu_grad(T x) {
  T s = sigmoid(x);
  return s * (T(1) + x * (T(1) - s));
}
template <class T>
SONO_HD T relu(T x) {
  return x > T(0) ? x : T(0);
}
// Subgradient 0 at x == 0, as PyTorch.
template <class T>
SONO_HD T relu_grad(T x) {
  return x > T(0) ? T(1) : T(0);
}
// Gradient of sigmoid from its output y.
template <class T>
SONO_HD T sigmoid_grad_from_output(T y) {
  return y * (T(1) - y);
}

// Drop-connect + residual (ops/drop_connect_add.h) on CUDA, where nvcc may
// contract it into one fused multiply-add; the CPU kernel stores the product
// before the add so that it rounds twice, as the unfused mul then add.
template <class T>
SONO_HD T masked_add(T x, T mask, T residual) {
  return x * mask + residual;
}

// log(1 + exp(x)) without overflow.
template <class T>
SONO_HD T softplus(T x) {
  return x > T(0) ? x + log1p(exp(-x)) : log1p(exp(x));
}
// BCE with logits for one element: max(x,0) - x*t + log(1+exp(-|x|)), as PyTorch.
template <class T>
SONO_HD T bce_with_logits(T x, T t) {
  T ax = x < T(0) ? -x : x;
  return (x > T(0) ? x : T(0)) - x * t + log1p(exp(-ax));
}
template <class T>
SONO_HD T bce_with_logits_grad(T x, T t) {
  return sigmoid(x) - t;
}
// sign with sign(0) = 0 (PyTorch's L1 subgradient).
template <class T>
SONO_HD T sign(T x) {
  return T((x > T(0)) - (x < T(0)));
}

// ---- losses (ops/loss.h) ----------------------------------------------------
// Element-wise loss terms f(x, t) and df/dx; for these two df/dt = -df/dx.
template <class T>
SONO_HD T squared_error(T x, T t) {
  return (x - t) * (x - t);
}
template <class T>
SONO_HD T squared_error_grad(T x, T t) {
  return T(2) * (x - t);
}
template <class T>
SONO_HD T absolute_error(T x, T t) {
  return x > t ? x - t : t - x;
}
template <class T>
SONO_HD T absolute_error_grad(T x, T t) {
  return sign(x - t);
}
// BCE with logits is linear in t with slope -x.
template <class T>
SONO_HD T bce_with_logits_grad_target(T x, T t) {
  return -x;
}

// SMP 0.5.0 multiclass Dice of one class from its sums over batch and pixels,
// I = sum p*t, Sp = sum p, St = sum t, in SMP's Tversky form (alpha = beta = 1/2):
// fp = Sp - I, fn = St - I, den = I + fp/2 + fn/2 + smooth (= (Sp + St)/2 + smooth).
template <class T>
SONO_HD T dice_denominator(T I, T Sp, T St, T smooth) {
  return I + T(0.5) * (Sp - I) + T(0.5) * (St - I) + smooth;
}
// 1 - (I + smooth) / max(den, eps), times 0 for a class absent from the target.
template <class T>
SONO_HD T dice_class_loss(T I, T Sp, T St, T smooth, T eps) {
  if (!(St > T(0))) return T(0);
  T den = dice_denominator(I, Sp, St, smooth);
  return T(1) - (I + smooth) / (den >= eps ? den : eps);
}
// Partial derivatives of dice_class_loss w.r.t. I and Sp. den does not depend
// on I (1 - 1/2 - 1/2 = 0); below eps the clamp passes no gradient to den
// (PyTorch's clamp_min passes it where den >= eps).
template <class T>
SONO_HD void dice_class_loss_grad(T I, T Sp, T St, T smooth, T eps, T* d_I, T* d_Sp) {
  *d_I = T(0);
  *d_Sp = T(0);
  if (!(St > T(0))) return;
  T den = dice_denominator(I, Sp, St, smooth);
  if (den >= eps) {
    *d_I = -T(1) / den;
    *d_Sp = T(0.5) * (I + smooth) / (den * den);
  } else {
    *d_I = -T(1) / eps;
  }
}

}  // namespace sono::math
