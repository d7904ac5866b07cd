#include "train/predict.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "model/fold_batchnorm.h"
#include "tasks/task_kind.h"

namespace sono {

namespace fs = std::filesystem;

namespace {

// A NaN or infinite output would become `null` in the JSON or an arbitrary
// class in a mask: stop, naming the row, instead of writing it.
void check_finite(const Tensor& output, const data::Batch& batch, const std::string& task_id) {
  const auto v = output.to(DType::F32).contiguous().to_vector<float>();
  const size_t per_row = batch.size() > 0 ? v.size() / size_t(batch.size()) : 0;
  for (size_t k = 0; k < v.size(); ++k) {
    if (std::isfinite(v[k])) continue;
    const data::Sample& s = batch.samples[k / per_row];
    throw Error(str_cat("predict: the model's output for ", data::row_location(s), " (task ", task_id, ", image ",
                        s.csv_image_path, ") is not finite (", v[k],
                        "): nothing is written for it; the weights or the image are likely broken"));
  }
}

}  // namespace

void check_predict_options(int64_t image_size, int64_t batch_size, int num_workers) {
  SONO_CHECK(image_size > 0 && image_size % 32 == 0, "predict", "--size ", image_size,
             " is not allowed: the input size must be a positive multiple of 32 (the encoder halves it 5 times)");
  SONO_CHECK(batch_size >= 1 && batch_size <= kMaxPredictBatch, "predict", "--batch ", batch_size, " is outside [1, ",
             kMaxPredictBatch, "]");
  SONO_CHECK(num_workers >= 0 && num_workers <= kMaxPredictWorkers, "predict", "--workers ", num_workers,
             " is outside [0, ", kMaxPredictWorkers, "]");
}

PredictSummary predict(model::MultiTaskModel& model, const data::Dataset& ds, const std::string& out_dir,
                       const InferenceOptions& opt, bool fold_batchnorm) {
  check_predict_options(opt.image_size, opt.batch_size, opt.num_workers);
  fs::create_directories(out_dir);
  const tasks::SubmissionDirs dirs{out_dir, (fs::path(ds.root) / "csv_files").lexically_normal().string()};
  std::vector<int64_t> rows(ds.samples.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = int64_t(i);
  for (const auto& t : ds.tasks)
    SONO_CHECK(model.tasks().contains(t.id), "predict", "the model has no head for task '", t.id,
               "' of the dataset in ", ds.root);

  std::shared_ptr<model::MultiTaskModel> folded;
  if (fold_batchnorm) folded = model::folded_inference_copy(model);
  std::map<std::string, nlohmann::json> files;  // submission file -> its records
  PredictSummary summary;
  InferenceRun run = run_inference(folded ? *folded : model, ds, rows, opt, {"predict", false, nullptr},
                                   [&](const data::Batch& batch, const Tensor& output) {
                                     const data::TaskInfo& task = ds.tasks[size_t(batch.task)];
                                     const tasks::TaskKind& kind = tasks::task_kind(task.type);
                                     nlohmann::json& records = files[kind.submission_file()];
                                     if (records.is_null()) records = nlohmann::json::array();
                                     const Tensor out = output.to(Device::cpu()).contiguous();
                                     check_finite(out, batch, task.id);
                                     kind.submit(out, batch, task.id, dirs, records);
                                     summary.per_task[task.id] += batch.size();
                                   });
  summary.images = run.images;
  summary.seconds = run.seconds;
  for (auto& [file, records] : files)
    if (!file.empty() && !records.empty())
      nn::write_file_atomically((fs::path(out_dir) / file).string(), records.dump(2) + "\n");
  return summary;
}

}  // namespace sono
