#pragma once
// The task-kind interface: everything that differs between segmentation,
// classification, regression and detection, in one object per kind
// (tasks/segmentation.cpp, classification.cpp, regression.cpp,
// detection.cpp). The dataset reader, the model, the trainer, validation,
// prediction, evaluation and the benchmarks call through it; task_kind() in
// task_kind.cpp is the only place that maps a TaskType to its implementation.
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/task_type.h"
#include "core/tensor.h"
#include "data/batch.h"
#include "data/target_codec.h"
#include "model/heads.h"
#include "model/tasks.h"

namespace sono::tasks {

// metric name -> one value per validation chunk of a task.
using MetricLists = std::map<std::string, std::vector<double>>;

// Where a prediction's submission goes.
struct SubmissionDirs {
  std::string out_dir;  // the prediction folder
  std::string csv_dir;  // the dataset's csv_files/ (CSV paths are relative to it)
};

// One task as the official evaluation sees it.
struct EvaluationTask {
  const data::TaskInfo& task;
  const std::vector<const data::Sample*>& rows;  // the task's rows, in dataset order
  SubmissionDirs dirs;                           // out_dir = the prediction folder
  // The kind's submission file, indexed: image_path (as in the CSV) -> entry.
  const std::map<std::string, nlohmann::json>& predictions;
  std::string prediction_file;  // that file's path, for messages

  // "<prediction file>, entry for <image_path>": the prefix of an error about one prediction.
  std::string where(const data::Sample& s) const { return prediction_file + ", entry for " + s.csv_image_path; }
};

class TaskKind : public data::TargetCodec {
 public:
  virtual TaskType type() const = 0;
  // The kind's key in evaluate.py's results ("segmentation", ..., "regression").
  virtual const char* category() const = 0;

  // ---- model: the head and its output ---------------------------------------
  // Head output width for `num_classes` classes (points for regression).
  virtual int64_t output_channels(int64_t num_classes) const = 0;
  virtual std::shared_ptr<model::TaskHead> make_head(const model::TaskSpec& spec,
                                                     const model::HeadInputs& inputs) const = 0;

  // ---- training ----------------------------------------------------------
  // train.py's loss of a single-task batch given the head's output; the
  // batch's target may live on the CPU (it is moved next to the output).
  virtual Tensor loss(const data::Batch& batch, const Tensor& output) const = 0;
  // A valid random target for a batch of `batch.size()` rows at `size` x
  // `size` (benchmarks and tests), on the CPU, drawn from `rng`.
  virtual void synthetic_target(data::Batch& batch, int64_t num_classes, int64_t size, std::mt19937_64& rng) const = 0;

  // ---- validation (train.py's in-training metric) ----------------------------
  // Appends this chunk's metric values (e.g. "Dice") to `values`.
  virtual void validation_metrics(const Tensor& output, const data::Batch& batch, int64_t image_size,
                                  MetricLists& values) const = 0;
  // Whether a metric counts in the validation score (lower-is-better ones do not).
  virtual bool in_validation_score(const std::string& metric) const { return true; }

  // ---- prediction: the read-out and the submission record ----------------
  // The JSON list file of the kind's predictions ("" when it writes none).
  virtual const char* submission_file() const = 0;
  // Reads the predictions of `batch` out of the head's output (on the CPU)
  // and appends their records to `records` (or writes their files).
  virtual void submit(const Tensor& output, const data::Batch& batch, const std::string& task_id,
                      const SubmissionDirs& dirs, nlohmann::json& records) const = 0;

  // ---- official evaluation (evaluate.py) ----------------------------------
  // The task's entry of the results JSON; rows without a prediction are
  // counted in `missing`.
  virtual nlohmann::json evaluate(const EvaluationTask& t, int64_t& missing) const = 0;
  // The metrics averaged over the kind's tasks in the summary.
  virtual std::vector<const char*> summary_metrics() const = 0;
};

// The implementation of a kind (the only TaskType -> TaskKind map).
const TaskKind& task_kind(TaskType type);
// task_kind as the dataset reader's codec lookup (data::TargetCodecs).
const data::TargetCodec& target_codec(TaskType type);
// The head of `spec` (a model::HeadFactory).
std::shared_ptr<model::TaskHead> make_head(const model::TaskSpec& spec, const model::HeadInputs& inputs);
// The head output width of a task.
int64_t output_channels(const model::TaskSpec& spec);
// The loss of `batch` given the model's output for its task.
Tensor task_loss(const data::Batch& batch, const Tensor& output);

}  // namespace sono::tasks
