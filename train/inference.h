#pragma once
// The evaluation loop that validation (train/validation.h) and prediction
// (train/predict.h) share: the rows in order, in chunks of `batch_size` split
// by task (the baseline's evaluation order), no augmentation, the model in
// eval mode without gradients, and each batch with its head output handed
// to the caller.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "data/prepare.h"
#include "model/multitask_model.h"

namespace sono {

struct InferenceOptions {
  int64_t image_size = 256;
  int64_t batch_size = 8;
  int num_workers = 2;
  Device device = Device::cpu();
  bool progress = false;  // a progress bar on stderr
  // Data-parallel validation: this process runs the plan's batches i with
  // i % shard_count == shard_rank (each batch keeps its plan index in .step).
  int shard_rank = 0, shard_count = 1;
};

struct InferenceRun {
  int64_t images = 0;
  double seconds = 0;
};

struct InferencePass {
  std::string label;                        // the progress bar's title
  bool load_targets = true;                 // false: images only (prediction without ground truth)
  std::shared_ptr<data::ImageCache> cache;  // may be null
};

// Runs `model` over `rows` of `ds`; `each(batch, output)` gets every batch
// and its task's head output (on opt.device). The model's training mode is
// restored afterwards.
InferenceRun run_inference(model::MultiTaskModel& model, const data::Dataset& ds, const std::vector<int64_t>& rows,
                           const InferenceOptions& opt, const InferencePass& pass,
                           const std::function<void(const data::Batch&, const Tensor&)>& each);

}  // namespace sono
