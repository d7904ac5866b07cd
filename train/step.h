#pragma once
// One training step, as `sono train` runs it and as the benchmarks
// (bench/bench_model.cpp, `sono bench --per-task`) time it.
#include <string>

#include "core/device.h"
#include "data/batch.h"
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

}  // namespace sono
