#pragma once
// Element-wise arithmetic with NumPy broadcasting. Gradients are summed back
// over broadcast dimensions.
#include "core/backend.h"
#include "core/macros.h"
#include "core/tensor.h"

namespace sono {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, double s);
Tensor mul_scalar(const Tensor& a, double s);
Tensor neg(const Tensor& a);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add_scalar(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add_scalar(a, -s); }
inline Tensor operator*(const Tensor& a, double s) { return mul_scalar(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return mul_scalar(a, s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// ---- backends ----------------------------------------------------------------
enum class BinaryOp { Add, Sub, Mul, Div };

// The scalar function of each op, shared by the CPU and CUDA kernels.
struct AddFn {
  template <class T>
  SONO_HD T operator()(T a, T b) const {
    return a + b;
  }
};
struct SubFn {
  template <class T>
  SONO_HD T operator()(T a, T b) const {
    return a - b;
  }
};
struct MulFn {
  template <class T>
  SONO_HD T operator()(T a, T b) const {
    return a * b;
  }
};
struct DivFn {
  template <class T>
  SONO_HD T operator()(T a, T b) const {
    return a / b;
  }
};

// Calls f with the functor of op, so kernels are instantiated per op instead
// of switching per element.
template <class F>
decltype(auto) dispatch_binary(BinaryOp op, F&& f) {
  switch (op) {
    case BinaryOp::Add: return f(AddFn{});
    case BinaryOp::Sub: return f(SubFn{});
    case BinaryOp::Mul: return f(MulFn{});
    case BinaryOp::Div: break;
  }
  return f(DivFn{});
}

// a and b contiguous, same dtype and device; out contiguous with the broadcast
// shape of a and b.
SONO_BACKEND_FN(void, binary_forward, (BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out));
// out = alpha * x + beta; x and out contiguous with equal shapes.
SONO_BACKEND_FN(void, affine_forward, (const Tensor& x, double alpha, double beta, const Tensor& out));

}  // namespace sono
