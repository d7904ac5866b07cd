#include "ops/batch_norm_silu.h"

#include "ops/batch_norm_args.h"

namespace sono {

// The body (checks, kernels, backward node) is batch_norm's, ops/norm.cpp.
Tensor batch_norm_silu(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_op("batch_norm_silu", true, input, weight, bias, running_mean, running_var, training, momentum,
                       eps);
}

}  // namespace sono
