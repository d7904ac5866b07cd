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

// ---- backends: rows/cols contiguous i64 [B] with indices already checked to
// lie inside x; x and gy may have any strides, out and gx are contiguous ---------
// (concat is device-agnostic and has no backend functions.)
SONO_BACKEND_FN(void, gather_cells_forward,
                (const Tensor& x, const Tensor& rows, const Tensor& cols, const Tensor& out));
// gx (already zero) [b, c, rows[b], cols[b]] = gy[b, c]
SONO_BACKEND_FN(void, gather_cells_backward,
                (const Tensor& gy, const Tensor& rows, const Tensor& cols, const Tensor& gx));

}  // namespace sono
