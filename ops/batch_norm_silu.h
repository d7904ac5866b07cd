#pragma once
// silu(batch_norm(x)) in one op (EfficientNet's BN + swish after every conv
// but the projection): the same values as the two ops, without the batch
// norm's output in memory. Its backward keeps only x (the BN input), the
// affine parameters and the batch statistics, and recomputes the normalized
// value z = bn(x) to take SiLU's derivative at it.
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

// Arguments, training/eval behaviour and running-statistics update as
// batch_norm (ops/norm.h).
Tensor batch_norm_silu(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps);

// ---- backends: as batch_norm_forward / batch_norm_backward (ops/norm.h);
// y = silu(z) with z the batch norm output. The backward also takes bias, to
// recompute z = (x - mean) * (w * invstd) + b from the saved statistics.
SONO_BACKEND_FN(void, batch_norm_silu_forward,
                (const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                 const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                 const Tensor& save_mean, const Tensor& save_invstd));
SONO_BACKEND_FN(void, batch_norm_silu_backward,
                (const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& save_mean,
                 const Tensor& save_invstd, const Tensor& gy, bool training, const Tensor& gx, const Tensor& gweight,
                 const Tensor& gbias));

}  // namespace sono
