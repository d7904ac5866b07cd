#include "train/validation.h"

#include "tasks/task_kind.h"

namespace sono {

ValidationResult validate(model::MultiTaskModel& model, const data::Dataset& ds, const std::vector<int64_t>& rows,
                          const InferenceOptions& opt, std::shared_ptr<data::ImageCache> cache) {
  std::map<std::string, tasks::MetricLists> values;  // task id -> metric -> per-chunk values
  ValidationResult result;
  InferencePass pass{"validation", true, std::move(cache)};
  result.images = run_inference(model, ds, rows, opt, pass, [&](const data::Batch& batch, const Tensor& out) {
                    const data::TaskInfo& task = ds.tasks[size_t(batch.task)];
                    tasks::task_kind(task.type).validation_metrics(out, batch, opt.image_size, values[task.id]);
                  }).images;

  std::map<std::string, std::vector<double>> columns;  // metric -> per-task means
  for (auto& [task, metrics_of_task] : values) {
    const tasks::TaskKind& kind = tasks::task_kind(ds.tasks[size_t(ds.find_task(task))].type);
    for (auto& [metric, list] : metrics_of_task) {
      double mean = 0;
      for (double x : list) mean += x;
      mean /= double(list.size());
      result.per_task[task][metric] = mean;
      if (kind.in_validation_score(metric)) columns[metric].push_back(mean);
    }
  }
  double score = 0;
  for (auto& [metric, list] : columns) {
    double m = 0;
    for (double x : list) m += x;
    score += m / double(list.size());
  }
  result.score = columns.empty() ? 0.0 : score / double(columns.size());
  return result;
}

}  // namespace sono
