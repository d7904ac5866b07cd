#pragma once
// The baseline's in-training validation (utils.evaluate + train.py): the
// validation rows through the shared evaluation loop (train/inference.h);
// per chunk and task the kind's batch metric (classification Accuracy and
// macro F1, segmentation foreground Dice with 1e-6 smoothing, detection IoU
// of the box at the most confident cell, regression MAE in pixels at the
// input size); each metric averaged over its chunks per task; the score is
// the mean over the metric columns (Accuracy, F1-Score, Dice, IoU; MAE
// excluded) of their mean over the tasks that have them. Higher is better.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/prepare.h"
#include "model/multitask_model.h"
#include "train/inference.h"

namespace sono {

struct ValidationResult {
  std::map<std::string, std::map<std::string, double>> per_task;  // task id -> metric -> value
  double score = 0;
  int64_t images = 0;
};

// Data-parallel (opt.shard_count > 1): each rank runs its share of the
// chunks, and `gather` (every rank's bytes, indexed by rank) brings all the
// chunks' metric values to every rank, where they are averaged in chunk order:
// the result equals the single-process one exactly.
using GatherFn = std::function<std::vector<std::string>(const std::string&)>;
ValidationResult validate(model::MultiTaskModel& model, const data::Dataset& ds, const std::vector<int64_t>& rows,
                          const InferenceOptions& opt, std::shared_ptr<data::ImageCache> cache = nullptr,
                          const GatherFn& gather = nullptr);

}  // namespace sono
