#include "train/predict.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tasks/task_kind.h"

namespace sono {

namespace fs = std::filesystem;

namespace {

void write_json(const fs::path& path, const nlohmann::json& j) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream f(tmp);
    SONO_CHECK(f.good(), "predict", "cannot write ", tmp.string());
    f << j.dump(2) << "\n";
    SONO_CHECK(f.good(), "predict", "error writing ", tmp.string());
  }
  fs::rename(tmp, path);
}

}  // namespace

PredictSummary predict(model::MultiTaskModel& model, const data::Dataset& ds, const std::string& out_dir,
                       const InferenceOptions& opt) {
  fs::create_directories(out_dir);
  const tasks::SubmissionDirs dirs{out_dir, (fs::path(ds.root) / "csv_files").lexically_normal().string()};
  std::vector<int64_t> rows(ds.samples.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = int64_t(i);
  for (const auto& t : ds.tasks)
    SONO_CHECK(model.tasks().contains(t.id), "predict", "the model has no head for task '", t.id,
               "' of the dataset in ", ds.root);

  std::map<std::string, nlohmann::json> files;  // submission file -> its records
  PredictSummary summary;
  InferenceRun run = run_inference(model, ds, rows, opt, {"predict", false, nullptr},
                                   [&](const data::Batch& batch, const Tensor& output) {
                                     const data::TaskInfo& task = ds.tasks[size_t(batch.task)];
                                     const tasks::TaskKind& kind = tasks::task_kind(task.type);
                                     nlohmann::json& records = files[kind.submission_file()];
                                     if (records.is_null()) records = nlohmann::json::array();
                                     kind.submit(output.to(Device::cpu()).contiguous(), batch, task.id, dirs, records);
                                     summary.per_task[task.id] += batch.size();
                                   });
  summary.images = run.images;
  summary.seconds = run.seconds;
  for (auto& [file, records] : files)
    if (!file.empty() && !records.empty()) write_json(fs::path(out_dir) / file, records);
  return summary;
}

}  // namespace sono
