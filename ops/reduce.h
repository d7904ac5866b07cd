#pragma once
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

Tensor sum(const Tensor& x);  // all elements -> shape []
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
// Index of the maximum along dim (first on ties), i64, not differentiable.
Tensor argmax(const Tensor& x, int64_t dim);

// ---- backends: x contiguous, seen as [outer, r, inner]; reduces the middle
// dim into out, contiguous [outer, inner] --------------------------------------
// out = scale * sum over r (accumulated in f64). x and out share a dtype,
// except in a bf16 reduction over several stages: the stages before the last
// write f32 partial sums, so the last reads f32 x into bf16 out (one rounding).
SONO_BACKEND_FN(void, sum_middle,
                (const Tensor& x, int64_t outer, int64_t r, int64_t inner, double scale, const Tensor& out));
// out (i64) = index of the first maximum over r; NaN counts as the maximum, like PyTorch.
SONO_BACKEND_FN(void, argmax_middle, (const Tensor& x, int64_t outer, int64_t r, int64_t inner, const Tensor& out));

}  // namespace sono
