#include "train/step.h"

#include "core/autocast.h"
#include "tasks/task_kind.h"

namespace sono {

Tensor training_step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch, const std::string& task_id,
                     Device device) {
  opt.zero_grad();
  Tensor loss;
  {
    // Forward and loss under the process's --precision (core/autocast.h);
    // backward runs each op in the dtypes its forward saved.
    AutocastGuard autocast(precision());
    loss = tasks::task_loss(batch, model.forward(batch.images.to(device), task_id));
  }
  loss.backward();
  opt.step();
  return loss;
}

Tensor training_step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch, const std::string& task_id,
                     Device device, dist::GradSync& sync, double weight, dist::CommStats* stats, Tensor* output) {
  opt.zero_grad();
  Tensor out, loss;
  {
    AutocastGuard autocast(precision());
    out = model.forward(batch.images.to(device), task_id);
    loss = tasks::task_loss(batch, out);
  }
  sync.begin(loss, weight);
  loss.backward();
  dist::CommStats st = sync.finish();
  if (stats) *stats = std::move(st);
  if (output) *output = out.detach();
  opt.step();
  return loss;
}

}  // namespace sono
