#pragma once
// AdamW with parameter groups, as torch.optim.AdamW (PyTorch 2.2 defaults:
// betas 0.9/0.999, eps 1e-8, weight_decay 0.01, amsgrad off). A parameter
// whose gradient is absent in a step is skipped entirely: no decay, no moment
// update, its own step count does not advance (docs/reference-model.md 6.1).
#include <map>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

struct ParamGroup {
  std::string name;  // e.g. "encoder", "heads.organ_cls"
  std::vector<Tensor> params;
  double lr = 1e-3;
  double initial_lr = 1e-3;  // the schedule's base value
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

class AdamW {
 public:
  explicit AdamW(std::vector<ParamGroup> groups);

  // Updates every parameter that has a gradient. Parameters must be f32.
  void step();
  // Sets every parameter's gradient to absent ("set_to_none").
  void zero_grad();

  std::vector<ParamGroup>& groups() { return groups_; }
  const std::vector<ParamGroup>& groups() const { return groups_; }

  // Per-parameter state, keyed by the parameter's name (Tensor::name()).
  struct State {
    int64_t step = 0;
    Tensor exp_avg, exp_avg_sq;
  };
  const std::map<std::string, State>& state() const { return state_; }
  // For checkpoints: "<param>.exp_avg", "<param>.exp_avg_sq", "<param>.step"
  // (i64 scalar), and "group.<i>.lr" (f64 scalar).
  std::map<std::string, Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& tensors);

 private:
  std::vector<ParamGroup> groups_;
  std::map<std::string, State> state_;
};

// ---- backends (optim/cpu/adamw.cpp, optim/cuda/adamw.cu) -------------------
// p, g, m (exp_avg), v (exp_avg_sq): contiguous f32 of equal shape on one
// device; p, m, v updated in place with optim/adamw_math.h's element update;
// `step` is the parameter's own step count (already advanced).
SONO_BACKEND_FN(void, adamw_step,
                (const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, double lr, double beta1,
                 double beta2, double eps, double wd, int64_t step));

// One parameter of a multi-tensor update, with its group's hyper-parameters.
struct AdamWItem {
  Tensor p, g, m, v;
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;
};
// Every item (all on one device) gets exactly adamw_step's update. On cuda
// this is one kernel launch for the whole list; the table of tensor pointers
// is uploaded only when it differs from the previous call's, and the per-step
// scalars travel as kernel arguments, so a step never waits for the device.
SONO_BACKEND_FN(void, adamw_step_multi, (const std::vector<AdamWItem>& items));

}  // namespace sono
