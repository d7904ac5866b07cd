#include "train/validation.h"

#include <nlohmann/json.hpp>

#include "tasks/task_kind.h"

namespace sono {

ValidationResult validate(model::MultiTaskModel& model, const data::Dataset& ds, const std::vector<int64_t>& rows,
                          const InferenceOptions& opt, std::shared_ptr<data::ImageCache> cache,
                          const GatherFn& gather) {
  std::map<std::string, tasks::MetricLists> values;  // task id -> metric -> per-chunk values
  ValidationResult result;
  InferencePass pass{"validation", true, std::move(cache)};
  // Per batch (plan index): task id -> metric -> values.
  std::map<int64_t, std::pair<std::string, tasks::MetricLists>> per_batch;
  result.images = run_inference(model, ds, rows, opt, pass, [&](const data::Batch& batch, const Tensor& out) {
                    const data::TaskInfo& task = ds.tasks[size_t(batch.task)];
                    auto& entry = per_batch[batch.step];
                    entry.first = task.id;
                    tasks::task_kind(task.type).validation_metrics(out, batch, opt.image_size, entry.second);
                  }).images;
  if (opt.shard_count > 1) {
    SONO_CHECK(gather != nullptr, "validate", "a sharded validation needs a gather function");
    nlohmann::json mine = nlohmann::json::array();
    for (auto& [step, e] : per_batch) mine.push_back({step, e.first, e.second});
    nlohmann::json images = result.images;
    int64_t total_images = 0;
    for (const std::string& bytes : gather(nlohmann::json{mine, images}.dump())) {
      const nlohmann::json j = nlohmann::json::parse(bytes);
      total_images += j[1].get<int64_t>();
      for (const auto& e : j[0])
        per_batch[e[0].get<int64_t>()] = {e[1].get<std::string>(), e[2].get<tasks::MetricLists>()};
    }
    result.images = total_images;
  }
  // In plan order, as one process appends them.
  for (auto& [step, e] : per_batch)
    for (auto& [metric, list] : e.second)
      for (double x : list) values[e.first][metric].push_back(x);

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
