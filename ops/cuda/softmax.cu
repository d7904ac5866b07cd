// Softmax and log-softmax over the middle dim of [outer, n, inner] on a cuda
// device (see ops/softmax.h), the same arithmetic as ops/cpu/softmax.cpp.
//
// Math: m = max_k x_k, e_k = exp(x_k - m) (tensor dtype), S = sum_k e_k (double)
//   softmax      y_k = e_k * T(1 / S)
//   log_softmax  y_k = (x_k - m) - T(log S)
//   backward     softmax      gx_k = y_k * (gy_k - T(sum_j gy_j * y_j))
//                log_softmax  gx_k = gy_k - exp(y_k) * T(sum_j gy_j)
// Layout: x, y, gy, gx contiguous [outer, n, inner].
// Launch: one thread per (o, i) looping over k in order; neighbouring threads
// take neighbouring i, so reads are coalesced whenever inner > 1 (softmax
// over the channels of NCHW maps). inner == 1 rows are short in this model
// (class logits).
// Outputs: y and gx are overwritten.
#include "core/cuda/launch.h"
#include "ops/softmax.h"

namespace sono::cuda {

namespace {

template <class T>
struct Forward {
  const T* x;
  T* y;
  int64_t n, inner;
  bool log;
  __device__ void operator()(int64_t j) const {
    const int64_t o = j / inner, base = o * n * inner + (j - o * inner);
    T m = x[base];
    for (int64_t k = 1; k < n; ++k) m = x[base + k * inner] > m ? x[base + k * inner] : m;
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += double(T(exp(x[base + k * inner] - m)));
    if (log) {
      const T lse = T(::log(s));
      for (int64_t k = 0; k < n; ++k) y[base + k * inner] = (x[base + k * inner] - m) - lse;
    } else {
      const T inv = T(1.0 / s);
      for (int64_t k = 0; k < n; ++k) y[base + k * inner] = T(exp(x[base + k * inner] - m)) * inv;
    }
  }
};

template <class T>
struct Backward {
  const T* y;
  const T* gy;
  T* gx;
  int64_t n, inner;
  bool log;
  __device__ void operator()(int64_t j) const {
    const int64_t o = j / inner, base = o * n * inner + (j - o * inner);
    double acc = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t at = base + k * inner;
      acc += log ? double(gy[at]) : double(gy[at] * y[at]);
    }
    const T s = T(acc);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t at = base + k * inner;
      gx[at] = log ? gy[at] - T(exp(y[at])) * s : y[at] * (gy[at] - s);
    }
  }
};

}  // namespace

void softmax_forward(bool log, const Tensor& x, int64_t outer, int64_t n, int64_t inner, const Tensor& y) {
  dispatch_float(x.dtype(), "softmax", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(x.device().index, outer * inner, Forward<T>{x.data<T>(), y.data<T>(), n, inner, log});
  });
}

void softmax_backward(bool log, const Tensor& y, const Tensor& gy, int64_t outer, int64_t n, int64_t inner,
                      const Tensor& gx) {
  dispatch_float(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(y.device().index, outer * inner, Backward<T>{y.data<T>(), gy.data<T>(), gx.data<T>(), n, inner, log});
  });
}

}  // namespace sono::cuda
