// Linear layer on a cuda device (see ops/linear.h), through cuBLAS.
//
// Math: forward  y = x W^T + b           (y seeded with b, GEMM with beta = 1)
//       backward gx = gy W,  gW = gy^T x, gb = sum over rows of gy
// Layout: x [N, in], W [out, in], y/gy [N, out], all contiguous row-major,
// one dtype: f32, f64 or bf16 (bf16: tensor-core GEMMs with float
// accumulation, y = bias + x W^T rounded once, ops/cuda/gemm.cu);
// the row-major GEMMs map onto cuBLAS as described in ops/cuda/gemm.cu.
// Launch: one cuBLAS GEMM per product on the device's stream; the bias seed
// and bias gradient are the shared kernels of ops/cuda/gemm.cu.
// Outputs: y, gx, gw, gb overwritten; undefined gradients are skipped.
#include "core/cuda/launch.h"
#include "ops/cuda/gemm.h"
#include "ops/linear.h"

namespace sono::cuda {

void linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) {
  const int64_t n = x.size(0), in = x.size(1), out = weight.size(0);
  const int device = x.device().index;
  dispatch_real(x.dtype(), "linear", [&](auto tag) {
    using T = SONO_TYPE(tag);
    using C = compute_t<T>;
    T* yp = y.data<T>();
    if (bias.defined()) broadcast_bias<T>(device, bias.data<T>(), n, out, 1, yp);
    gemm<T>(device, false, true, n, out, in, C(1), x.data<T>(), in, weight.data<T>(), in, bias.defined() ? C(1) : C(0),
            yp, out);
  });
}

void linear_backward(const Tensor& x, const Tensor& weight, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                     const Tensor& gb) {
  const int64_t n = gy.size(0), in = weight.size(1), out = weight.size(0);
  const int device = gy.device().index;
  dispatch_real(gy.dtype(), "linear_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    using C = compute_t<T>;
    const T* g = gy.data<T>();
    if (gx.defined())  // gx [n, in] = gy [n, out] @ W [out, in]
      gemm<T>(device, false, false, n, in, out, C(1), g, out, weight.data<T>(), in, C(0), gx.data<T>(), in);
    if (gw.defined())  // gw [out, in] = gy^T [out, n] @ x [n, in]
      gemm<T>(device, true, false, out, in, n, C(1), g, out, x.data<T>(), in, C(0), gw.data<T>(), in);
    if (gb.defined()) bias_grad<T>(device, g, n, out, 1, gb.data<T>());
  });
}

}  // namespace sono::cuda
