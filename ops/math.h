#pragma once
// Scalar math shared by the CPU and CUDA kernels. Everything element-wise
// lives here so the CPU tests exercise the exact expressions the GPU runs.
#include <cmath>

#include "core/macros.h"

namespace sono::math {

template <class T> SONO_HD T sigmoid(T x) { return T(1) / (T(1) + exp(-x)); }
template <class T> SONO_HD T silu(T x) { return x * sigmoid(x); }
// d/dx x*s(x) = s(x) * (1 + x * (1 - s(x)))
template <class T> SONO_HD T silu_grad(T x) {
  T s = sigmoid(x);
  return s * (T(1) + x * (T(1) - s));
}
template <class T> SONO_HD T relu(T x) { return x > T(0) ? x : T(0); }
// Subgradient 0 at x == 0, as PyTorch.
template <class T> SONO_HD T relu_grad(T x) { return x > T(0) ? T(1) : T(0); }
// Gradient of sigmoid from its output y.
template <class T> SONO_HD T sigmoid_grad_from_output(T y) { return y * (T(1) - y); }

// log(1 + exp(x)) without overflow.
template <class T> SONO_HD T softplus(T x) { return x > T(0) ? x + log1p(exp(-x)) : log1p(exp(x)); }
// BCE with logits for one element: max(x,0) - x*t + log(1+exp(-|x|)), as PyTorch.
template <class T> SONO_HD T bce_with_logits(T x, T t) {
  T ax = x < T(0) ? -x : x;
  return (x > T(0) ? x : T(0)) - x * t + log1p(exp(-ax));
}
template <class T> SONO_HD T bce_with_logits_grad(T x, T t) { return sigmoid(x) - t; }
// sign with sign(0) = 0 (PyTorch's L1 subgradient).
template <class T> SONO_HD T sign(T x) { return T((x > T(0)) - (x < T(0))); }

}  // namespace sono::math
