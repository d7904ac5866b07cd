#pragma once
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

// y = x W^T + b: x [N, in], weight [out, in], bias [out] or undefined -> [N, out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- backends: every tensor contiguous, shapes already validated by linear() ----
// Backward: gx, gw, gb are fully overwritten; any may be undefined (skipped).
SONO_BACKEND_FN(void, linear_forward, (const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y));
SONO_BACKEND_FN(void, linear_backward,
                (const Tensor& x, const Tensor& weight, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                 const Tensor& gb));

}  // namespace sono
