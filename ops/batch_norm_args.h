#pragma once
// The argument handling batch_norm (ops/norm.cpp) and the fused
// batch_norm_silu (ops/batch_norm_silu.cpp) share: checks with errors naming
// the op and the tensor, contiguous copies for the kernels, and the write-back
// of running statistics that were updated through such a copy.
#include <memory>

#include "core/autograd.h"
#include "core/tensor.h"

namespace sono {

struct BatchNormArgs {
  Tensor x, weight, bias, running_mean, running_var;  // contiguous (or undefined)
  Tensor save_mean, save_invstd;                      // fresh [C] buffers for the kernels
};

BatchNormArgs prepare_batch_norm(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias,
                                 const Tensor& running_mean, const Tensor& running_var, bool training);

// After the forward kernel: a non-contiguous running statistic gets the
// values its contiguous copy was updated to.
void write_back_running_stats(const BatchNormArgs& a, const Tensor& running_mean, const Tensor& running_var,
                              bool training);

// Gradient buffers of a norm's backward, only for the inputs that want one
// (next[i] null: none).
inline Tensor input_grad_if(const std::shared_ptr<Node>& next, const Tensor& x) {
  return next ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
}
inline Tensor channel_grad_if(const std::shared_ptr<Node>& next, const Tensor& x) {
  return next ? Tensor::empty({x.size(1)}, x.dtype(), x.device()) : Tensor();
}

}  // namespace sono
