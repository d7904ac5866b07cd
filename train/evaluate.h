#pragma once
// The official evaluation (evaluate.py) of a prediction folder against a
// dataset folder: per task, DSC and HD per class averaged over the
// non-background classes (segmentation); Accuracy, AUC, F1 macro/weighted,
// MCC (classification); IoU of bbox_pixels (detection); MRE in pixels
// (regression); then the category averages over tasks with samples.
// Rows without a prediction are skipped as the official script does, but
// counted per task in `missing` and printed, never dropped silently. The
// rules for bad prediction folders (errors vs counted warnings) are in
// docs/training.md, "Bad input".
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sono {

struct EvaluationResult {
  nlohmann::json results;  // the official JSON layout: {segmentation: {task: {...}}, classification: ...}
  nlohmann::json summary;  // category averages
  std::map<std::string, int64_t> missing;  // task id -> rows without a prediction
  std::vector<std::string> warnings;       // what was ignored, one line each (printed by `sono evaluate`)
};

EvaluationResult evaluate_predictions(const std::string& data_dir, const std::string& pred_dir);

// Writes results, summary, missing_predictions and warnings as JSON to `path`
// (io/atomic_file.h: complete or absent; a failure throws naming the file).
void write_evaluation(const EvaluationResult& r, const std::string& path);

// Human-readable table of a result (what `sono evaluate` prints).
std::string format_evaluation(const EvaluationResult& r);

}  // namespace sono
