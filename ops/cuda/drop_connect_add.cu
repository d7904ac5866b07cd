// Drop-connect + residual add on a cuda device (see ops/drop_connect_add.h).
//
// Math (ops/math.h's masked_add; the CPU kernel rounds the product first):
//   forward   out = x * mask[n] + residual
//   backward  gx = gy * mask[n]            (residual's gradient is gy itself)
// Layout: x, residual, out, gy, gx contiguous [N, ...]; mask N contiguous
// values; f32, f64 or bf16 (loaded as float, stored rounded to nearest even).
// Launch: one grid-stride loop; element i belongs to sample i / S, computed in
// 32 bits when the tensor is small enough (parallel_for_grouped).
// Outputs: out and gx are overwritten.
#include "ops/cuda/grouped_elements.cuh"
#include "ops/drop_connect_add.h"
#include "ops/math.h"

namespace sono::cuda {

namespace {

template <class T>
struct Forward {  // element i of sample n
  const T* x;
  const T* mask;
  const T* residual;
  T* out;
  __device__ void operator()(int64_t i, int64_t n) const {
    using C = compute_t<T>;
    out[i] = scalar_cast<T>(math::masked_add(C(x[i]), C(mask[n]), C(residual[i])));
  }
};

template <class T>
struct Backward {
  const T* mask;
  const T* gy;
  T* gx;
  __device__ void operator()(int64_t i, int64_t n) const {
    using C = compute_t<T>;
    gx[i] = scalar_cast<T>(C(gy[i]) * C(mask[n]));
  }
};

}  // namespace

void drop_connect_add_forward(const Tensor& x, const Tensor& mask, const Tensor& residual, const Tensor& out) {
  dispatch_real(x.dtype(), "drop_connect_add", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for_grouped(x.device().index, x.numel(), x.numel() / x.size(0),
                         Forward<T>{x.data<T>(), mask.data<T>(), residual.data<T>(), out.data<T>()});
  });
}

void drop_connect_add_backward(const Tensor& mask, const Tensor& gy, const Tensor& gx) {
  dispatch_real(gy.dtype(), "drop_connect_add_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for_grouped(gy.device().index, gy.numel(), gy.numel() / gy.size(0),
                         Backward<T>{mask.data<T>(), gy.data<T>(), gx.data<T>()});
  });
}

}  // namespace sono::cuda
