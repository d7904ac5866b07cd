#pragma once
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

// Batch normalization over N and spatial dims of x [N, C, ...] (C = dim 1).
// training: normalizes with the biased batch variance and, when running_mean /
//   running_var are defined, updates them in place (never recorded):
//   running = (1 - momentum) * running + momentum * batch, with the UNBIASED
//   batch variance for running_var (PyTorch convention).
// eval: normalizes with the running statistics.
// weight/bias [C] (affine) may be undefined.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps);

// Group normalization of x [N, C, ...] with `groups` groups of C/groups
// channels each, statistics per (sample, group), biased variance; weight and
// bias [C] per channel (may be undefined).
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps);

// ---- backends: x, y, gy, gx contiguous [N, C, ...] of x's dtype; weight,
// bias, running stats contiguous [C] or undefined; gradient outputs may be
// undefined (not wanted). dtypes: x f32 or f64 with everything else alike, or
// x bf16 (y, gy, gx bf16) with save_mean / save_invstd f32 and each of weight,
// bias, running stats (and gweight, gbias like their parameter) f32 or bf16
// (ops/batch_norm_args.h, docs/precision.md). save_mean / save_invstd receive the statistics the
// output was normalized with, 1/sqrt(var + eps) for the variance.
// training: batch statistics into save_* ([C]) and the in-place running-stat
// update (when defined); eval: save_* from the running statistics.
SONO_BACKEND_FN(void, batch_norm_forward,
                (const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                 const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                 const Tensor& save_mean, const Tensor& save_invstd));
// training: through the batch statistics; eval: the statistics are constants.
SONO_BACKEND_FN(void, batch_norm_backward,
                (const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                 const Tensor& gy, bool training, const Tensor& gx, const Tensor& gweight, const Tensor& gbias));
// save_mean / save_invstd [N, groups].
SONO_BACKEND_FN(void, group_norm_forward,
                (const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t groups, double eps, const Tensor& y,
                 const Tensor& save_mean, const Tensor& save_invstd));
SONO_BACKEND_FN(void, group_norm_backward,
                (const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                 int64_t groups, const Tensor& gy, const Tensor& gx, const Tensor& gweight, const Tensor& gbias));

}  // namespace sono
