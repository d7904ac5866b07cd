#pragma once
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- backends: tensors contiguous, seen as [outer, n, inner] with the
// softmax taken over n; `log` selects log_softmax -------------------------------
SONO_BACKEND_FN(void, softmax_forward,
                (bool log, const Tensor& x, int64_t outer, int64_t n, int64_t inner, const Tensor& y));
// Gradient from the output y: softmax gx = y * (gy - sum(gy * y)),
// log_softmax gx = gy - exp(y) * sum(gy), sums over n.
SONO_BACKEND_FN(void, softmax_backward,
                (bool log, const Tensor& y, const Tensor& gy, int64_t outer, int64_t n, int64_t inner,
                 const Tensor& gx));

}  // namespace sono
