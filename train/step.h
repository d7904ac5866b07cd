#pragma once
// One training step, as `sono train` runs it and as the benchmarks
// (bench/bench_model.cpp, `sono bench --per-task`) time it.
#include <string>

#include "core/device.h"
#include "data/batch.h"
#include "dist/grad_sync.h"
#include "model/multitask_model.h"
#include "optim/adamw.h"

namespace sono {

// zero_grad, forward of the batch's images (moved to `device`; a no-op when
// they are there), the task kind's loss (its target moved next to the
// output), backward, optimizer step. Returns the loss unread: reading it
// synchronizes a GPU, so the caller does it once the step is queued.
Tensor training_step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch, const std::string& task_id,
                     Device device);
// The same with the model on the batch's device.
inline Tensor training_step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch,
                            const std::string& task_id) {
  return training_step(model, opt, batch, task_id, batch.images.device());
}
// Data-parallel (train/data_parallel.h): the batch is this rank's shard, and
// `sync` averages the gradients over the ranks during and after backward,
// this rank's weighted by `weight` (its share of the global batch), before
// the optimizer step. Returns this rank's loss; *stats gets the communication
// and *output (when given) the head's output.
Tensor training_step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch, const std::string& task_id,
                     Device device, dist::GradSync& sync, double weight, dist::CommStats* stats,
                     Tensor* output = nullptr);

}  // namespace sono
