#pragma once
#include <memory>

#include "layers/module.h"
#include "ops/sync_batch_norm.h"

namespace sono::nn {

// nn.BatchNorm2d (affine, tracking running stats). momentum in PyTorch's
// convention: running = (1 - momentum) * running + momentum * batch.
// Buffers: running_mean (0), running_var (1), num_batches_tracked (i64 scalar).
class BatchNorm2d : public UnaryModule {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  Tensor forward(const Tensor& x) override;
  // silu(forward(x)): the fused batch_norm_silu op when fused ops are on
  // (layers/fusion.h), which never materializes the normalized tensor.
  Tensor forward_silu(const Tensor& x);
  void reset_parameters();  // weight 1, bias 0, running stats 0/1, counter 0
  void on_state_loaded() override;

  int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  const Tensor& num_batches_tracked() const { return num_batches_tracked_; }

  // "Precise BN": resets the running statistics and, until
  // end_cumulative_stats(), makes them the plain average of the batch
  // statistics of the training-mode forwards seen (PyTorch's momentum=None).
  // Used to re-estimate statistics that a small momentum has not yet caught
  // up with (short runs); the counter num_batches_tracked is left alone.
  void begin_cumulative_stats();
  void end_cumulative_stats() { cumulative_ = false; }

  // Data-parallel --sync-bn: training-mode statistics over all ranks through
  // `r` (ops/sync_batch_norm.h); null (the default): this process's batch.
  void set_reducer(std::shared_ptr<const BatchNormReducer> r) { reducer_ = std::move(r); }

  // Inference with this BatchNorm folded into the preceding convolution
  // (model/fold_batchnorm.h): forward is then the identity (forward_silu plain
  // SiLU) and training mode is refused, since the statistics no longer apply.
  void mark_folded() { folded_ = true; }
  bool folded() const { return folded_; }

 private:
  // Checks x and counts a training-mode forward; returns the momentum of its
  // running-statistics update.
  double begin_forward(const Tensor& x);

  int64_t num_features_;
  double eps_, momentum_;
  bool cumulative_ = false;
  bool folded_ = false;
  int64_t cumulative_batches_ = 0;
  std::shared_ptr<const BatchNormReducer> reducer_;
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
  // Host copy of num_batches_tracked: incrementing writes it with fill_, so a
  // CUDA model never synchronises to read the counter. Refreshed on load.
  int64_t batches_tracked_ = 0;
};

// nn.GroupNorm (affine): weight 1, bias 0 per channel.
class GroupNorm : public UnaryModule {
 public:
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();

  int64_t num_groups() const { return num_groups_; }
  double eps() const { return eps_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int64_t num_groups_, num_channels_;
  double eps_;
  Tensor weight_, bias_;
};

}  // namespace sono::nn
