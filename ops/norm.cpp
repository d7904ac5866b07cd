#include "ops/norm.h"

#include "core/autograd.h"
#include "core/backend.h"
#include "ops/batch_norm_args.h"
#include "ops/batch_norm_silu.h"

namespace sono {

namespace {

void check_input(const Tensor& x, const char* op) {
  check_defined_nonempty(x, op, "input");
  check_real(x, op, "input");
  SONO_CHECK(x.dim() >= 2, op, "expected an input [N, C, ...], got ", x.describe());
}

// batch_norm's, or batch_norm_silu's (which also reads bias, to recompute the
// normalized value SiLU's derivative is taken at).
struct BatchNormBackward final : NormBackward {
  bool fused_silu, training;
  BatchNormBackward(const BatchNormArgs& a, const Tensor& weight, const Tensor& bias, bool fused, bool t)
      : NormBackward(saved(a.x), saved(a.weight), fused ? saved(a.bias) : Tensor(), a.save_mean, a.save_invstd,
                     param_dtype(weight, a.x), param_dtype(bias, a.x)),
        fused_silu(fused),
        training(t) {}
  const char* name() const override { return fused_silu ? "BatchNormSiluBackward" : "BatchNormBackward"; }
  void kernel(const Tensor& gy, const Tensor& gx, const Tensor& gw, const Tensor& gb) override {
    if (fused_silu)
      SONO_DISPATCH_DEVICE(x, "batch_norm_silu", batch_norm_silu_backward, x, weight, bias, save_mean, save_invstd, gy,
                           training, gx, gw, gb);
    else
      SONO_DISPATCH_DEVICE(x, "batch_norm", batch_norm_backward, x, weight, save_mean, save_invstd, gy, training, gx,
                           gw, gb);
  }
};

struct GroupNormBackward final : NormBackward {
  int64_t groups;
  GroupNormBackward(Tensor x_, Tensor w, Tensor m, Tensor i, DType wd, DType bd, int64_t g)
      : NormBackward(std::move(x_), std::move(w), Tensor(), std::move(m), std::move(i), wd, bd), groups(g) {}
  const char* name() const override { return "GroupNormBackward"; }
  void kernel(const Tensor& gy, const Tensor& gx, const Tensor& gw, const Tensor& gb) override {
    SONO_DISPATCH_DEVICE(x, "group_norm", group_norm_backward, x, weight, save_mean, save_invstd, groups, gy, gx, gw,
                         gb);
  }
};

}  // namespace

Tensor channel_tensor(const Tensor& t, const Tensor& x, const char* op, const char* what) {
  if (!t.defined()) return t;
  check_same_device(x, t, op);
  SONO_CHECK(t.dtype() == x.dtype() || (x.dtype() == DType::BF16 && t.dtype() == DType::F32), op, what, " ",
             t.describe(), " must have the dtype of input ", x.describe(), " (or f32 beside a bf16 input)");
  SONO_CHECK(t.dim() == 1 && t.size(0) == x.size(1), op, what, " ", t.describe(), " does not match the ", x.size(1),
             " channels of input ", x.describe());
  return t.is_contiguous() ? t : t.detach().contiguous();
}

BatchNormArgs prepare_batch_norm(const char* op, const Tensor& input, const Tensor& weight, const Tensor& bias,
                                 const Tensor& running_mean, const Tensor& running_var, bool training) {
  check_input(input, op);
  BatchNormArgs a;
  a.weight = channel_tensor(weight, input, op, "weight");
  a.bias = channel_tensor(bias, input, op, "bias");
  a.running_mean = channel_tensor(running_mean, input, op, "running_mean");
  a.running_var = channel_tensor(running_var, input, op, "running_var");
  SONO_CHECK(training || (a.running_mean.defined() && a.running_var.defined()), op,
             "evaluation mode needs running_mean and running_var, got ", describe(running_mean), " and ",
             describe(running_var), " for input ", input.describe());
  SONO_CHECK(!training || input.numel() / input.size(1) > 1, op,
             "expected more than 1 value per channel when training, got input ", input.describe());
  a.x = input.contiguous();
  a.save_mean = Tensor::empty({a.x.size(1)}, stats_dtype(a.x), a.x.device());
  a.save_invstd = Tensor::empty({a.x.size(1)}, stats_dtype(a.x), a.x.device());
  return a;
}

void write_back_running_stats(const BatchNormArgs& a, const Tensor& running_mean, const Tensor& running_var,
                              bool training) {
  // The running statistics are buffers updated in place (never recorded); a
  // non-contiguous one was updated through a contiguous copy, written back here.
  if (training && a.running_mean.defined() && !running_mean.is_contiguous()) running_mean.copy_(a.running_mean);
  if (training && a.running_var.defined() && !running_var.is_contiguous()) running_var.copy_(a.running_var);
}

Tensor batch_norm_op(const char* op, bool fused_silu, const Tensor& input, const Tensor& weight, const Tensor& bias,
                     const Tensor& running_mean, const Tensor& running_var, bool training, double momentum,
                     double eps) {
  BatchNormArgs a = prepare_batch_norm(op, input, weight, bias, running_mean, running_var, training);
  Tensor y = Tensor::empty(a.x.shape(), a.x.dtype(), a.x.device());
  if (fused_silu)
    SONO_DISPATCH_DEVICE(a.x, op, batch_norm_silu_forward, a.x, a.weight, a.bias, a.running_mean, a.running_var,
                         training, momentum, eps, y, a.save_mean, a.save_invstd);
  else
    SONO_DISPATCH_DEVICE(a.x, op, batch_norm_forward, a.x, a.weight, a.bias, a.running_mean, a.running_var, training,
                         momentum, eps, y, a.save_mean, a.save_invstd);
  write_back_running_stats(a, running_mean, running_var, training);
  if (autograd::needs_grad({&input, &weight, &bias}))
    autograd::record(y, std::make_shared<BatchNormBackward>(a, weight, bias, fused_silu, training),
                     {input, weight, bias});
  return y;
}

Tensor batch_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_op("batch_norm", false, input, weight, bias, running_mean, running_var, training, momentum, eps);
}

Tensor group_norm(const Tensor& input, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "group_norm";
  check_input(input, op);
  SONO_CHECK(groups > 0 && input.size(1) % groups == 0, op, groups, " groups do not divide the ", input.size(1),
             " channels of input ", input.describe());
  Tensor w = channel_tensor(weight, input, op, "weight");
  Tensor b = channel_tensor(bias, input, op, "bias");

  Tensor x = input.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({x.size(0), groups}, stats_dtype(x), x.device());
  Tensor save_invstd = Tensor::empty({x.size(0), groups}, stats_dtype(x), x.device());
  SONO_DISPATCH_DEVICE(x, op, group_norm_forward, x, w, b, groups, eps, y, save_mean, save_invstd);

  if (autograd::needs_grad({&input, &weight, &bias}))
    autograd::record(y,
                     std::make_shared<GroupNormBackward>(saved(x), saved(w), save_mean, save_invstd,
                                                         param_dtype(weight, x), param_dtype(bias, x), groups),
                     {input, weight, bias});
  return y;
}

}  // namespace sono
