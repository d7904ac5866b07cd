#include "ops/norm.h"

#include "ops/batch_norm_args.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

void check_input(const Tensor& x, const char* op) {
  check_defined_nonempty(x, op, "input");
  check_float(x, op, "input");
  SONO_CHECK(x.dim() >= 2, op, "expected an input [N, C, ...], got ", x.describe());
}

// Optional per-channel tensor (affine parameter or running statistic): [C],
// same dtype and device as x. Returns it contiguous (or undefined), never
// recorded: the op's node takes the gradient for the original tensor.
Tensor channel_tensor(const Tensor& t, const Tensor& x, const char* op, const char* what) {
  if (!t.defined()) return t;
  check_same_device(x, t, op);
  check_same_dtype(x, t, op);
  SONO_CHECK(t.dim() == 1 && t.size(0) == x.size(1), op, what, " ", t.describe(), " does not match the ", x.size(1),
             " channels of input ", x.describe());
  return t.is_contiguous() ? t : t.detach().contiguous();
}

struct BatchNormBackward final : Node {
  Tensor x, weight, save_mean, save_invstd;
  bool training;
  BatchNormBackward(Tensor x_, Tensor w, Tensor m, Tensor i, bool t)
      : x(std::move(x_)), weight(std::move(w)), save_mean(std::move(m)), save_invstd(std::move(i)), training(t) {}
  const char* name() const override { return "BatchNormBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    Tensor g = gy.contiguous();
    Tensor gx = input_grad_if(next[0], x), gw = channel_grad_if(next[1], x), gb = channel_grad_if(next[2], x);
    SONO_DISPATCH_DEVICE(x, "batch_norm", batch_norm_backward, x, weight, save_mean, save_invstd, g, training, gx, gw,
                         gb);
    return {gx, gw, gb};
  }
  void release_saved() override { x = weight = save_mean = save_invstd = Tensor(); }
};

struct GroupNormBackward final : Node {
  Tensor x, weight, save_mean, save_invstd;
  int64_t groups;
  GroupNormBackward(Tensor x_, Tensor w, Tensor m, Tensor i, int64_t g)
      : x(std::move(x_)), weight(std::move(w)), save_mean(std::move(m)), save_invstd(std::move(i)), groups(g) {}
  const char* name() const override { return "GroupNormBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    Tensor g = gy.contiguous();
    Tensor gx = input_grad_if(next[0], x), gw = channel_grad_if(next[1], x), gb = channel_grad_if(next[2], x);
    SONO_DISPATCH_DEVICE(x, "group_norm", group_norm_backward, x, weight, save_mean, save_invstd, groups, g, gx, gw,
                         gb);
    return {gx, gw, gb};
  }
  void release_saved() override { x = weight = save_mean = save_invstd = Tensor(); }
};

}  // namespace

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
  a.save_mean = Tensor::empty({a.x.size(1)}, a.x.dtype(), a.x.device());
  a.save_invstd = Tensor::empty({a.x.size(1)}, a.x.dtype(), a.x.device());
  return a;
}

void write_back_running_stats(const BatchNormArgs& a, const Tensor& running_mean, const Tensor& running_var,
                              bool training) {
  // The running statistics are buffers updated in place (never recorded); a
  // non-contiguous one was updated through a contiguous copy, written back here.
  if (training && a.running_mean.defined() && !running_mean.is_contiguous()) running_mean.copy_(a.running_mean);
  if (training && a.running_var.defined() && !running_var.is_contiguous()) running_var.copy_(a.running_var);
}

Tensor batch_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm";
  BatchNormArgs a = prepare_batch_norm(op, input, weight, bias, running_mean, running_var, training);
  Tensor y = Tensor::empty(a.x.shape(), a.x.dtype(), a.x.device());
  SONO_DISPATCH_DEVICE(a.x, op, batch_norm_forward, a.x, a.weight, a.bias, a.running_mean, a.running_var, training,
                       momentum, eps, y, a.save_mean, a.save_invstd);
  write_back_running_stats(a, running_mean, running_var, training);

  if (autograd::needs_grad({&input, &weight, &bias}))
    autograd::record(
        y, std::make_shared<BatchNormBackward>(saved(a.x), saved(a.weight), a.save_mean, a.save_invstd, training),
        {input, weight, bias});
  return y;
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
  Tensor save_mean = Tensor::empty({x.size(0), groups}, x.dtype(), x.device());
  Tensor save_invstd = Tensor::empty({x.size(0), groups}, x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, op, group_norm_forward, x, w, b, groups, eps, y, save_mean, save_invstd);

  if (autograd::needs_grad({&input, &weight, &bias}))
    autograd::record(y, std::make_shared<GroupNormBackward>(saved(x), saved(w), save_mean, save_invstd, groups),
                     {input, weight, bias});
  return y;
}

}  // namespace sono
