#pragma once
// Synchronized batch normalization (PyTorch's SyncBatchNorm) for data-parallel
// training: the batch statistics are those of the global batch, spread over
// ranks. Forward all-reduces the per-channel sum (then the sum of squared
// deviations from the global mean: two passes, as exact as batch_norm's
// shifted moments); backward all-reduces the two per-channel gradient sums
// (of gy and of gy * xhat). Each rank returns the weight and bias gradients of
// its own samples (the gradient averaging adds them up).
//
// `weight` (the rank's share of the global batch, samples / batch) makes
// uneven shards exact: a rank's loss is the mean over its own samples, so its
// gy is 1/weight times the global loss's; the gradient sums are all-reduced
// weighted, and the result scaled back by 1/weight.
#include <functional>
#include <memory>

#include "core/tensor.h"

namespace sono {

struct BatchNormReducer {
  // In-place sum over the ranks of a contiguous f64 tensor (on x's device).
  std::function<void(const Tensor&)> allreduce_sum;
  double weight = 1.0;
};

// Training-mode batch_norm (ops/norm.h) with global statistics; the running
// statistics (when defined) get the global mean and unbiased variance.
Tensor sync_batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, double momentum, double eps,
                       std::shared_ptr<const BatchNormReducer> reducer);

}  // namespace sono
