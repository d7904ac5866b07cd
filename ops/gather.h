#pragma once
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

// Per-sample cell gather: x [B, C, H, W], rows/cols i64 [B] -> [B, C] with
// out[b, c] = x[b, c, rows[b], cols[b]]. Gradient scatters back to that cell.
Tensor gather_cells(const Tensor& x, const Tensor& rows, const Tensor& cols);

// Concatenation along dim; all other dims equal.
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);

// ---- backends: rows/cols contiguous i64 [B] with indices checked to lie
// inside x (on CUDA the verdict comes later, so the CUDA kernels stay in
// bounds for bad ones); x and gy may have any strides, out and gx are
// contiguous (concat is device-agnostic and has no backend functions).
// The check (core/device_check.h): the first sample b whose idx[b] lies
// outside [0, limit) is reported into `flag` as check `id` (value idx[b],
// where b). No host wait.
SONO_BACKEND_FN(void, cell_index_check, (const Tensor& idx, int64_t limit, int64_t id, int64_t* flag));
SONO_BACKEND_FN(void, gather_cells_forward,
                (const Tensor& x, const Tensor& rows, const Tensor& cols, const Tensor& out));
// gx (already zero) [b, c, rows[b], cols[b]] = gy[b, c]
SONO_BACKEND_FN(void, gather_cells_backward,
                (const Tensor& gy, const Tensor& rows, const Tensor& cols, const Tensor& gx));

}  // namespace sono
