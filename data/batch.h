#pragma once
// One single-task batch as the model and the losses take it, and the
// function that builds it from a plan entry (used by the Loader's workers).
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "data/augment.h"
#include "data/dataset.h"
#include "data/prepare.h"
#include "data/sampler.h"

namespace sono::data {

struct Batch {
  int64_t step = 0;        // position in the epoch's plan
  int64_t task = -1;       // index into Dataset::tasks
  int64_t first_slot = 0;  // data-parallel shard: position of the first row in the step's global batch
  TaskType type = TaskType::Segmentation;
  Tensor images;  // f32 [B, 3, S, S], ImageNet-normalised
  // The target of the batch's task kind (the others stay undefined; the
  // kind's TargetCodec allocates and fills it):
  Tensor masks;   // segmentation:   i64 [B, S, S] class indices
  Tensor labels;  // classification: i64 [B]
  Tensor boxes;   // detection:      f32 [B, 4] in [0, 1], (-1, -1, -1, -1) = no box
  Tensor points;  // regression:     f32 [B, 2 * points] in original-size fractions
  // For predictions: the rows, their records and original image sizes.
  std::vector<int64_t> rows;
  std::vector<Sample> samples;
  std::vector<int64_t> heights, widths;

  int64_t size() const { return int64_t(rows.size()); }
};

struct BatchOptions {
  int64_t image_size = 256;
  bool augment = false;  // training only
  AugmentOptions augment_options;
  uint64_t seed = 42;  // augmentation key: example_key(seed, epoch, step, slot in the global batch)
  // false (prediction): images only; targets stay undefined and mask files are not read.
  bool load_targets = true;
};

// Decodes (or takes from `cache`, may be null), resizes, augments and
// normalises the plan entry's rows. Errors name the CSV row and the file.
Batch build_batch(const Dataset& ds, const PlannedBatch& plan, int64_t step, int64_t epoch, const BatchOptions& opt,
                  ImageCache* cache);

}  // namespace sono::data
