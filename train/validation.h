#pragma once
// The baseline's in-training validation (utils.evaluate + train.py): the
// validation rows in order, in chunks of 8 split by task; per chunk and task
// a batch metric (classification Accuracy and macro F1, segmentation
// foreground Dice with 1e-6 smoothing, detection IoU of the box at the most
// confident cell, regression MAE in pixels at the input size); each metric
// averaged over its chunks per task; the score is the mean over the metric
// columns (Accuracy, F1-Score, Dice, IoU; MAE excluded) of their mean over
// the tasks that have them. Higher is better.
#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/prepare.h"
#include "model/multitask_model.h"

namespace sono {

struct ValidationOptions {
  int64_t image_size = 256;
  int64_t batch_size = 8;
  int num_workers = 2;
  Device device = Device::cpu();
  bool progress = false;
};

struct ValidationResult {
  std::map<std::string, std::map<std::string, double>> per_task;  // task id -> metric -> value
  double score = 0;
  int64_t images = 0;
};

ValidationResult validate(model::MultiTaskModel& model, const data::Dataset& ds, const std::vector<int64_t>& rows,
                          const ValidationOptions& opt, std::shared_ptr<data::ImageCache> cache = nullptr);

// Index of the first maximum of channel 4 over the h x w grid, per sample,
// and the four box channels there: the detection read-out of the baseline.
void best_cell_boxes(const Tensor& output, std::vector<std::array<float, 4>>& boxes);

}  // namespace sono
