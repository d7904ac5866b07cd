// Drop-connect + residual add on a cuda device (see ops/drop_connect_add.h).
//
// Math (ops/math.h's masked_add; the CPU kernel rounds the product first):
//   forward   out = x * mask[n] + residual
//   backward  gx = gy * mask[n]            (residual's gradient is gy itself)
// Layout: x, residual, out, gy, gx contiguous [N, ...]; mask N contiguous
// values; f32, f64 or bf16 (loaded as float, stored rounded to nearest even).
// Launch: one grid-stride loop; element i belongs to sample i / S, computed in
// 32 bits when the tensor is small enough (with_narrow_index).
// Outputs: out and gx are overwritten.
#include "core/cuda/launch.h"
#include "ops/drop_connect_add.h"
#include "ops/math.h"

namespace sono::cuda {

namespace {

template <class T, class I>
struct Forward {
  const T* x;
  const T* mask;
  const T* residual;
  I per_sample;
  T* out;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    out[i] = scalar_cast<T>(math::masked_add(C(x[i]), C(mask[I(i) / per_sample]), C(residual[i])));
  }
};

template <class T, class I>
struct Backward {
  const T* mask;
  const T* gy;
  I per_sample;
  T* gx;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    gx[i] = scalar_cast<T>(C(gy[i]) * C(mask[I(i) / per_sample]));
  }
};

}  // namespace

void drop_connect_add_forward(const Tensor& x, const Tensor& mask, const Tensor& residual, const Tensor& out) {
  dispatch_real(x.dtype(), "drop_connect_add", [&](auto tag) {
    using T = SONO_TYPE(tag);
    with_narrow_index(x.numel(), [&](auto index) {
      using I = decltype(index);
      parallel_for(
          x.device().index, x.numel(),
          Forward<T, I>{x.data<T>(), mask.data<T>(), residual.data<T>(), I(x.numel() / x.size(0)), out.data<T>()});
    });
  });
}

void drop_connect_add_backward(const Tensor& mask, const Tensor& gy, const Tensor& gx) {
  dispatch_real(gy.dtype(), "drop_connect_add_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    with_narrow_index(gy.numel(), [&](auto index) {
      using I = decltype(index);
      parallel_for(gy.device().index, gy.numel(),
                   Backward<T, I>{mask.data<T>(), gy.data<T>(), I(gy.numel() / gy.size(0)), gx.data<T>()});
    });
  });
}

}  // namespace sono::cuda
