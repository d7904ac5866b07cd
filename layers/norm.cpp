#include "layers/norm.h"

#include "core/autocast.h"
#include "core/autograd.h"
#include "layers/fusion.h"
#include "ops/activation.h"
#include "ops/batch_norm_silu.h"
#include "ops/norm.h"

namespace sono::nn {

BatchNorm2d::BatchNorm2d(int64_t num_features, double eps, double momentum)
    : UnaryModule("BatchNorm2d"), num_features_(num_features), eps_(eps), momentum_(momentum) {
  SONO_CHECK(num_features > 0, "BatchNorm2d", "invalid num_features ", num_features);
  weight_ = register_parameter("weight", Tensor::zeros({num_features}));
  bias_ = register_parameter("bias", Tensor::zeros({num_features}));
  running_mean_ = register_buffer("running_mean", Tensor::zeros({num_features}));
  running_var_ = register_buffer("running_var", Tensor::zeros({num_features}));
  num_batches_tracked_ = register_buffer("num_batches_tracked", Tensor::zeros({}, DType::I64));
  reset_parameters();
}

void BatchNorm2d::reset_parameters() {
  NoGradGuard ng;
  weight_.fill_(1.0);
  bias_.fill_(0.0);
  running_mean_.fill_(0.0);
  running_var_.fill_(1.0);
  num_batches_tracked_.fill_(0.0);
  batches_tracked_ = 0;
}

void BatchNorm2d::on_state_loaded() { batches_tracked_ = int64_t(num_batches_tracked_.item()); }

void BatchNorm2d::begin_cumulative_stats() {
  NoGradGuard ng;
  running_mean_.fill_(0.0);
  running_var_.fill_(1.0);
  cumulative_ = true;
  cumulative_batches_ = 0;
}

double BatchNorm2d::begin_forward(const Tensor& x) {
  SONO_CHECK(x.defined() && x.dim() == 4, "BatchNorm2d", "expected a 4-d input for '", name(), "', got ", describe(x));
  SONO_CHECK(!(folded_ && is_training()), "BatchNorm2d", "'", name(),
             "' is folded into its convolution (an inference copy of the model) and cannot run in training mode");
  double momentum = momentum_;
  if (is_training() && cumulative_) {
    momentum = 1.0 / double(++cumulative_batches_);
  } else if (is_training()) {
    num_batches_tracked_.fill_(double(++batches_tracked_));
  }
  return momentum;
}

Tensor BatchNorm2d::forward(const Tensor& input) {
  // Under autocast the activation comes in bf16 and leaves in bf16; weight,
  // bias and the statistics stay the f32 masters (autocast::Op::BatchNorm).
  const Tensor x = autocast::input(autocast::Op::BatchNorm, input);
  const double momentum = begin_forward(x);
  if (folded_) return x;
  if (is_training() && reducer_)
    return sync_batch_norm(x, weight_, bias_, running_mean_, running_var_, momentum, eps_, reducer_);
  return batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum, eps_);
}

Tensor BatchNorm2d::forward_silu(const Tensor& input) {
  const Tensor x = autocast::input(autocast::Op::BatchNorm, input);
  const double momentum = begin_forward(x);
  if (folded_) return silu(x);
  // Statistics over all ranks (--sync-bn) come from their own op; SiLU follows unfused.
  if (is_training() && reducer_)
    return silu(sync_batch_norm(x, weight_, bias_, running_mean_, running_var_, momentum, eps_, reducer_));
  if (!fused_ops_enabled())
    return silu(batch_norm(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum, eps_));
  return batch_norm_silu(x, weight_, bias_, running_mean_, running_var_, is_training(), momentum, eps_);
}

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps)
    : UnaryModule("GroupNorm"), num_groups_(num_groups), num_channels_(num_channels), eps_(eps) {
  SONO_CHECK(num_groups > 0 && num_channels > 0 && num_channels % num_groups == 0, "GroupNorm", num_channels,
             " channels cannot be split into ", num_groups, " groups");
  weight_ = register_parameter("weight", Tensor::zeros({num_channels}));
  bias_ = register_parameter("bias", Tensor::zeros({num_channels}));
  reset_parameters();
}

void GroupNorm::reset_parameters() {
  NoGradGuard ng;
  weight_.fill_(1.0);
  bias_.fill_(0.0);
}

Tensor GroupNorm::forward(const Tensor& x) {
  return group_norm(autocast::input(autocast::Op::GroupNorm, x), num_groups_, weight_, bias_, eps_);
}

}  // namespace sono::nn
