// Softmax and log-softmax over the middle dim of [outer, n, inner] on a cuda
// device (see ops/softmax.h), the same arithmetic as ops/cpu/softmax.cpp.
//
// Math: m = max_k x_k, e_k = exp(x_k - m) (tensor dtype), S = sum_k e_k (double)
//   softmax      y_k = e_k * T(1 / S)
//   log_softmax  y_k = (x_k - m) - T(log S)
//   backward     softmax      gx_k = y_k * (gy_k - T(sum_j gy_j * y_j))
//                log_softmax  gx_k = gy_k - exp(y_k) * T(sum_j gy_j)
// Layout: x, y, gy, gx contiguous [outer, n, inner]; f32, f64 or bf16 (bf16
// loaded as float, "tensor dtype" above then means float, outputs rounded to
// nearest even).
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
    using C = compute_t<T>;
    const int64_t o = j / inner, base = o * n * inner + (j - o * inner);
    C m = C(x[base]);
    for (int64_t k = 1; k < n; ++k) m = C(x[base + k * inner]) > m ? C(x[base + k * inner]) : m;
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += double(C(exp(C(x[base + k * inner]) - m)));
    if (log) {
      const C lse = C(::log(s));
      for (int64_t k = 0; k < n; ++k) y[base + k * inner] = scalar_cast<T>((C(x[base + k * inner]) - m) - lse);
    } else {
      const C inv = C(1.0 / s);
      for (int64_t k = 0; k < n; ++k) y[base + k * inner] = scalar_cast<T>(C(exp(C(x[base + k * inner]) - m)) * inv);
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
    using C = compute_t<T>;
    const int64_t o = j / inner, base = o * n * inner + (j - o * inner);
    double acc = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t at = base + k * inner;
      acc += log ? double(gy[at]) : double(C(gy[at]) * C(y[at]));
    }
    const C s = C(acc);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t at = base + k * inner;
      const C g = C(gy[at]), v = C(y[at]);
      gx[at] = scalar_cast<T>(log ? g - C(exp(v)) * s : v * (g - s));
    }
  }
};

}  // namespace

void softmax_forward(bool log, const Tensor& x, int64_t outer, int64_t n, int64_t inner, const Tensor& y) {
  dispatch_real(x.dtype(), "softmax", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(x.device().index, outer * inner, Forward<T>{x.data<T>(), y.data<T>(), n, inner, log});
  });
}

void softmax_backward(bool log, const Tensor& y, const Tensor& gy, int64_t outer, int64_t n, int64_t inner,
                      const Tensor& gx) {
  dispatch_real(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(y.device().index, outer * inner, Backward<T>{y.data<T>(), gy.data<T>(), gx.data<T>(), n, inner, log});
  });
}

}  // namespace sono::cuda
