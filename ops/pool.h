#pragma once
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

// Mean over H and W: x [N, C, H, W] -> [N, C, 1, 1] (adaptive_avg_pool2d(1)).
Tensor global_avg_pool2d(const Tensor& x);

// ---- backends: x, gx contiguous [N, C, H, W]; y, gy contiguous [N, C, 1, 1] --
SONO_BACKEND_FN(void, global_avg_pool2d_forward, (const Tensor& x, const Tensor& y));
SONO_BACKEND_FN(void, global_avg_pool2d_backward, (const Tensor& gy, const Tensor& gx));

}  // namespace sono
