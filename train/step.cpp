#include "train/step.h"

#include "tasks/task_kind.h"

namespace sono {

Tensor training_step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch, const std::string& task_id,
                     Device device) {
  opt.zero_grad();
  Tensor out = model.forward(batch.images.to(device), task_id);
  Tensor loss = tasks::task_loss(batch, out);
  loss.backward();
  opt.step();
  return loss;
}

Tensor training_step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch, const std::string& task_id,
                     Device device, dist::GradSync& sync, double weight, dist::CommStats* stats, Tensor* output) {
  opt.zero_grad();
  Tensor out = model.forward(batch.images.to(device), task_id);
  Tensor loss = tasks::task_loss(batch, out);
  sync.begin(loss, weight);
  loss.backward();
  dist::CommStats st = sync.finish();
  if (stats) *stats = std::move(st);
  if (output) *output = out.detach();
  opt.step();
  return loss;
}

}  // namespace sono
