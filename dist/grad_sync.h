#pragma once
// Gradient averaging of data-parallel training, in buckets that are
// all-reduced while backward still runs (docs/distributed.md, "Speed").
//
// Before backward, begin() finds the parameters this backward will reach
// (the leaves of the loss's graph; a task's step reaches the shared encoder
// and decoder and that task's head only) and groups them, in reverse
// registration order (roughly the order backward finishes them), into buckets
// of about bucket_bytes. A hook in the autograd engine
// (autograd::set_grad_ready_hook) counts each parameter's gradient as final;
// the bucket whose last gradient is final is packed (times this rank's
// weight) into one flat buffer and its all-reduce posted at once. finish()
// posts what backward left (a reached parameter that got no gradient counts as
// zero), waits, and writes the sums back as the gradients. Each bucket carries
// one presence flag per parameter, so a parameter that got no gradient on any
// rank stays absent (AdamW's skip rule is unchanged); one that got none here
// but some elsewhere gets the others' contributions.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/autograd.h"
#include "core/tensor.h"
#include "dist/comm.h"

namespace sono::dist {

// What one step's gradient communication did.
struct CommStats {
  int64_t buckets = 0;
  int64_t bytes = 0;           // all-reduced payload (gradients and flags)
  double busy_seconds = 0;     // time with at least one all-reduce in flight
  double exposed_seconds = 0;  // of it, after backward ended (the wait before the optimizer)
  double hidden_fraction = 0;  // 1 - exposed / busy (1 when everything overlapped backward)
  std::vector<int64_t> bucket_bytes;
};

class GradSync {
 public:
  // params: the optimizer's parameters, in registration order.
  GradSync(Communicator& comm, std::vector<Tensor> params, int64_t bucket_bytes = 25 << 20);
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Call after forward, before loss.backward(). weight: this rank's share of
  // the global batch (its samples / the batch's), the factor of its gradients.
  void begin(const Tensor& loss, double weight);
  // Call after backward: every gradient is the weighted sum over ranks.
  CommStats finish();

 private:
  using Clock = std::chrono::steady_clock;
  struct Bucket {
    std::vector<int64_t> params;  // indices into params_
    std::vector<int64_t> offsets;
    int64_t numel = 0;  // gradients + one flag per parameter
    Tensor buffer;
    int64_t ready = 0;
    std::unique_ptr<PendingReduce> pending;
    Clock::time_point posted, completed;
    bool done = false;
  };
  void on_grad_ready(const Tensor& leaf);
  void post(Bucket& b);
  void poll();

  Communicator& comm_;
  std::vector<Tensor> params_;
  int64_t bucket_bytes_;
  std::map<const TensorImpl*, int64_t> index_;
  // Bucket layouts per set of reached parameters (one per task, in practice).
  std::map<std::vector<bool>, std::vector<Bucket>> layouts_;
  std::vector<Bucket>* active_ = nullptr;
  std::vector<int64_t> bucket_of_;  // param -> bucket in *active_ (-1: not reached)
  double weight_ = 1;
  bool hooked_ = false;
  autograd::GradReadyHook previous_hook_;
};

}  // namespace sono::dist
