#pragma once
// What batch_norm, group_norm (ops/norm.cpp) and the fused batch_norm_silu
// (ops/batch_norm_silu.cpp) share: checks with errors naming the op and the
// tensor, contiguous copies for the kernels, the write-back of running
// statistics that were updated through such a copy, the one batch-norm body
// and the backward node that calls a kernel with the wanted gradient buffers.
//
// dtypes (docs/precision.md): x is f32, f64 or bf16; each per-channel tensor
// (weight, bias, running statistics) has x's dtype, or f32 beside a bf16 x.
// The statistics are kept in stats_dtype(x) (f32 for bf16), each parameter's
// gradient in that parameter's dtype, the input's gradient in x's.
#include <memory>

#include "core/autograd.h"
#include "core/tensor.h"

namespace sono {

inline DType stats_dtype(const Tensor& x) { return x.dtype() == DType::BF16 ? DType::F32 : x.dtype(); }

// Optional per-channel tensor (affine parameter or running statistic): [C],
// dtype as above, x's device. Returns it contiguous (or undefined), never
// recorded: the op's node takes the gradient for the original tensor.
Tensor channel_tensor(const Tensor& t, const Tensor& x, const char* op, const char* what);

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

// The backward of a normalization with inputs (x, weight, bias): kernel() gets
// the contiguous gy and gradient buffers only for the inputs that want one
// (next[i] null: an undefined buffer).
struct NormBackward : Node {
  Tensor x, weight, bias, save_mean, save_invstd;  // bias only where the kernel reads it
  DType weight_dtype, bias_dtype;
  NormBackward(Tensor x_, Tensor w, Tensor b, Tensor m, Tensor i, DType wd, DType bd)
      : x(std::move(x_)),
        weight(std::move(w)),
        bias(std::move(b)),
        save_mean(std::move(m)),
        save_invstd(std::move(i)),
        weight_dtype(wd),
        bias_dtype(bd) {}
  virtual void kernel(const Tensor& gy, const Tensor& gx, const Tensor& gw, const Tensor& gb) = 0;
  std::vector<Tensor> apply(const Tensor& gy) override {
    const int64_t C = x.size(1);
    Tensor gx = next[0] ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
    Tensor gw = next[1] ? Tensor::empty({C}, weight_dtype, x.device()) : Tensor();
    Tensor gb = next[2] ? Tensor::empty({C}, bias_dtype, x.device()) : Tensor();
    kernel(gy.contiguous(), gx, gw, gb);
    return {gx, gw, gb};
  }
  void release_saved() override { x = weight = bias = save_mean = save_invstd = Tensor(); }
};

// The dtype of a parameter's gradient (the parameter's; x's when it is undefined).
inline DType param_dtype(const Tensor& p, const Tensor& x) { return p.defined() ? p.dtype() : x.dtype(); }

// batch_norm (fused_silu false) and batch_norm_silu (true): the checks, the
// forward kernel, the running-statistics write-back and the backward node
// (ops/norm.cpp).
Tensor batch_norm_op(const char* op, bool fused_silu, const Tensor& input, const Tensor& weight, const Tensor& bias,
                     const Tensor& running_mean, const Tensor& running_var, bool training, double momentum, double eps);

}  // namespace sono
