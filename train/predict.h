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

PredictSummary predict(model::MultiTaskModel& model, const data::Dataset& ds, const std::string& out_dir,
                       const InferenceOptions& opt = {});

using tasks::submission_mask_path;

}  // namespace sono
