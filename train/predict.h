#pragma once
// Predictions in the challenge's submission layout (the official model.py),
// through the shared evaluation loop (train/inference.h); each task kind
// writes its own records (tasks/<kind>.cpp):
//   <out>/<mask_path without "../">  segmentation: PNG, class index per
//       pixel, argmax at the input size resized to the original with nearest
//   <out>/classification_predictions.json  image_path, task_id,
//       predicted_class, predicted_probs (softmax)
//   <out>/detection_predictions.json       image_path, task_id,
//       bbox_normalized, bbox_pixels ([x_min, y_min, x_max, y_max] at the
//       most confident grid cell, times the original width/height)
//   <out>/regression_predictions.json      image_path, task_id,
//       predicted_points_normalized, predicted_points_pixels ([x1, y1, ...])
#include <map>
#include <string>

#include "data/dataset.h"
#include "model/multitask_model.h"
#include "tasks/segmentation.h"
#include "train/inference.h"

namespace sono {

struct PredictSummary {
  std::map<std::string, int64_t> per_task;  // rows predicted per task id
  int64_t images = 0;
  double seconds = 0;
};

// The ranges predict accepts (checked where the options enter, and again by predict()).
constexpr int64_t kMaxPredictBatch = 4096;
constexpr int kMaxPredictWorkers = 256;
// Throws naming the option, its value and the allowed range: image_size a
// positive multiple of 32, batch_size in [1, kMaxPredictBatch], num_workers in
// [0, kMaxPredictWorkers].
void check_predict_options(int64_t image_size, int64_t batch_size, int num_workers);

// Every file is written through io/atomic_file.h (complete or absent, a
// failure throws naming it); a non-finite model output stops with its row
// (CSV file and line) before anything of it is written. The model runs as a
// copy with every BatchNorm folded into its convolution
// (model::folded_inference_copy; `model` itself is untouched) unless
// fold_batchnorm is false (`sono predict --no-fold-bn`, for comparing).
PredictSummary predict(model::MultiTaskModel& model, const data::Dataset& ds, const std::string& out_dir,
                       const InferenceOptions& opt = {}, bool fold_batchnorm = true);

using tasks::submission_mask_path;

}  // namespace sono
