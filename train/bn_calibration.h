#pragma once
// Precise BatchNorm statistics: before a validation, the running mean and
// variance of every BatchNorm2d are replaced by the average batch statistics
// of a few training batches (train-mode forwards without gradients).
//
// Why: the encoder's momentum is 0.01 (docs/reference-model.md 2.1), so its running
// statistics trail the weights by ~100 steps and start from (0, 1). After a
// long run that does not matter; after a few hundred steps (the demo, the
// tests) eval-mode outputs are still off. Off by default: the official recipe
// does not do it.
#include <memory>
#include <vector>

#include "data/dataset.h"
#include "data/prepare.h"
#include "data/sampler.h"
#include "model/multitask_model.h"

namespace sono {

void recalibrate_batch_norm(model::MultiTaskModel& model, const data::Dataset& ds,
                            const std::vector<data::PlannedBatch>& plan, int64_t image_size, Device device,
                            int num_workers, std::shared_ptr<data::ImageCache> cache);

}  // namespace sono
