#pragma once
// The training losses, each returning a scalar (shape []) tensor.
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

// SMP 0.5.0 DiceLoss(mode='multiclass', from_logits=True), docs/reference-model.md 5.1:
// logits [B, C, H, W], target i64 [B, H, W] in [0, C). Softmax over C; per
// class sums over batch and pixels; score = (I + smooth) / max(I + fp/2 + fn/2 + smooth, eps);
// classes absent from the whole batch's target contribute 0; mean over all C.
Tensor dice_loss(const Tensor& logits, const Tensor& target, double smooth = 0.0, double eps = 1e-7);

// Mean over the batch of -log_softmax(logits)[target]: logits [B, C], target i64 [B].
Tensor cross_entropy(const Tensor& logits, const Tensor& target);

// Mean of (input - target)^2 over all elements; equal shapes.
Tensor mse_loss(const Tensor& input, const Tensor& target);

// Mean over all elements of BCEWithLogits (PyTorch's stable form); equal shapes.
Tensor bce_with_logits(const Tensor& input, const Tensor& target);

// Mean of |input - target| over all elements; equal shapes.
Tensor l1_loss(const Tensor& input, const Tensor& target);

// The element-wise losses share one kernel pair.
enum class PointwiseLoss { MSE, BCEWithLogits, L1 };

// ---- backends: tensors contiguous and on one device, shapes and dtypes
// checked by the caller; `loss` and `grad_loss` are shape-[] tensors of the
// input's dtype; class targets are i64 and checked to lie in [0, C) (on CUDA
// the verdict comes later, so the CUDA kernels stay in bounds for bad ones).
// The kernels: ops/cpu/loss_*.cpp and ops/cuda/loss_*.cu (same arithmetic,
// deterministic reductions).
// Smallest and largest value of an i64 class-index tensor (to name a bad class).
SONO_BACKEND_FN(void, class_index_range, (const Tensor& target, int64_t* min, int64_t* max));
// The check of a class-index target (core/device_check.h): unless every value
// lies in [0, classes), reports check `id` into `flag` (device memory) with the
// bad value (the minimum when it is negative, else the maximum). No host wait.
SONO_BACKEND_FN(void, class_index_check, (const Tensor& target, int64_t classes, int64_t id, int64_t* flag));
// stats: f64 [C, 3] receiving per class {sum p*t, sum p, sum t} over batch and
// pixels, which is all the backward needs besides logits and target.
SONO_BACKEND_FN(void, dice_loss_forward,
                (const Tensor& logits, const Tensor& target, double smooth, double eps, const Tensor& stats,
                 const Tensor& loss));
SONO_BACKEND_FN(void, dice_loss_backward,
                (const Tensor& logits, const Tensor& target, const Tensor& stats, double smooth, double eps,
                 const Tensor& grad_loss, const Tensor& grad_logits));
SONO_BACKEND_FN(void, cross_entropy_forward, (const Tensor& logits, const Tensor& target, const Tensor& loss));
SONO_BACKEND_FN(void, cross_entropy_backward,
                (const Tensor& logits, const Tensor& target, const Tensor& grad_loss, const Tensor& grad_logits));
SONO_BACKEND_FN(void, pointwise_loss_forward,
                (PointwiseLoss kind, const Tensor& input, const Tensor& target, const Tensor& loss));
// grad_input or grad_target is undefined when that gradient is not needed.
SONO_BACKEND_FN(void, pointwise_loss_backward,
                (PointwiseLoss kind, const Tensor& input, const Tensor& target, const Tensor& grad_loss,
                 const Tensor& grad_input, const Tensor& grad_target));

}  // namespace sono
