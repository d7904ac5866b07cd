// CPU linear: y [n, out] = x [n, in] @ W^T + b with W [out, in], all
// contiguous row-major. The forward seeds y with the bias and lets the GEMM
// accumulate onto it (beta = 1), else overwrites y. The backward overwrites
// each requested gradient: gx = gy @ W, gW = gy^T @ x, gb = the column sums of
// gy; an undefined gradient is skipped.
#include "ops/linear.h"
#include "core/bf16_cpu.h"
#include "ops/cpu/gemm.h"

#include <algorithm>

namespace sono::cpu {

void linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y) {
  if (bf16::widened(linear_forward, x, weight, bias, bf16::out(y))) return;
  const int64_t n = x.size(0), in = x.size(1), out = weight.size(0);
  dispatch_float(x.dtype(), "linear", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    scalar_t* yp = y.data<scalar_t>();
    // The bias seeds every row and the GEMM accumulates onto it.
    if (bias.defined()) {
      const scalar_t* b = bias.data<scalar_t>();
      for (int64_t i = 0; i < n; ++i) std::copy(b, b + out, yp + i * out);
    }
    gemm<scalar_t>(false, true, n, out, in, scalar_t(1), x.data<scalar_t>(), in, weight.data<scalar_t>(), in,
                   bias.defined() ? scalar_t(1) : scalar_t(0), yp, out);
  });
}

void linear_backward(const Tensor& x, const Tensor& weight, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                     const Tensor& gb) {
  if (bf16::widened(linear_backward, x, weight, gy, bf16::out(gx), bf16::out(gw), bf16::out(gb))) return;
  const int64_t n = gy.size(0), in = weight.size(1), out = weight.size(0);
  dispatch_float(gy.dtype(), "linear_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* g = gy.data<scalar_t>();
    if (gx.defined())  // gx [n, in] = gy [n, out] @ W [out, in]
      gemm<scalar_t>(false, false, n, in, out, scalar_t(1), g, out, weight.data<scalar_t>(), in, scalar_t(0),
                     gx.data<scalar_t>(), in);
    if (gw.defined())  // gw [out, in] = gy^T [out, n] @ x [n, in]
      gemm<scalar_t>(true, false, out, in, n, scalar_t(1), g, out, x.data<scalar_t>(), in, scalar_t(0),
                     gw.data<scalar_t>(), in);
    if (gb.defined()) bias_grad(g, n, out, 1, gb.data<scalar_t>());
  });
}

}  // namespace sono::cpu
