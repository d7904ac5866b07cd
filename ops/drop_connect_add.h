#pragma once
// Drop-connect (stochastic depth) and the residual add after it in one op:
// out = x * mask[n] + residual, mask holding one value per sample (0 or
// 1/(1-p): drop_connect_mask, ops/dropout.h, or an imported mask already
// scaled). The same values as add(mul(x, mask), residual) without the masked
// tensor in memory; backward keeps only the mask.
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

// x, residual [N, ...] of equal shape, dtype and device; mask N values
// ([N] or [N, 1, ...]), a constant: no gradient reaches it.
Tensor drop_connect_add(const Tensor& x, const Tensor& mask, const Tensor& residual);

// ---- backends: x, residual, out, gy, gx contiguous [N, ...] of equal shape;
// mask contiguous, N values of their dtype.
// out = x * mask[n] + residual (overwritten).
SONO_BACKEND_FN(void, drop_connect_add_forward,
                (const Tensor& x, const Tensor& mask, const Tensor& residual, const Tensor& out));
// gx = gy * mask[n] (overwritten); residual's gradient is gy itself.
SONO_BACKEND_FN(void, drop_connect_add_backward, (const Tensor& mask, const Tensor& gy, const Tensor& gx));

}  // namespace sono
