// Drop-connect + residual add on a cuda device (see ops/drop_connect_add.h).
//
// Math (ops/math.h's masked_add; the CPU kernel rounds the product first):
//   forward   out = x * mask[n] + residual
//   backward  gx = gy * mask[n]            (residual's gradient is gy itself)
// Layout: x, residual, out, gy, gx contiguous [N, ...]; mask N contiguous values.
// Launch: one grid-stride loop; element i belongs to sample i / S, computed in
// 32 bits when the tensor is small enough (64-bit divisions would dominate).
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
  __device__ void operator()(int64_t i) const { out[i] = math::masked_add(x[i], mask[I(i) / per_sample], residual[i]); }
};

template <class T, class I>
struct Backward {
  const T* mask;
  const T* gy;
  I per_sample;
  T* gx;
  __device__ void operator()(int64_t i) const { gx[i] = gy[i] * mask[I(i) / per_sample]; }
};

// Calls f(I{}) with the narrowest index type for n elements.
template <class F>
void with_index(int64_t n, F&& f) {
  if (n <= int64_t(UINT32_MAX)) f(uint32_t{});
  else f(uint64_t{});
}

}  // namespace

void drop_connect_add_forward(const Tensor& x, const Tensor& mask, const Tensor& residual, const Tensor& out) {
  dispatch_float(x.dtype(), "drop_connect_add", [&](auto tag) {
    using T = SONO_TYPE(tag);
    with_index(x.numel(), [&](auto index) {
      using I = decltype(index);
      parallel_for(
          x.device().index, x.numel(),
          Forward<T, I>{x.data<T>(), mask.data<T>(), residual.data<T>(), I(x.numel() / x.size(0)), out.data<T>()});
    });
  });
}

void drop_connect_add_backward(const Tensor& mask, const Tensor& gy, const Tensor& gx) {
  dispatch_float(gy.dtype(), "drop_connect_add_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    with_index(gy.numel(), [&](auto index) {
      using I = decltype(index);
      parallel_for(gy.device().index, gy.numel(),
                   Backward<T, I>{mask.data<T>(), gy.data<T>(), I(gy.numel() / gy.size(0)), gx.data<T>()});
    });
  });
}

}  // namespace sono::cuda
