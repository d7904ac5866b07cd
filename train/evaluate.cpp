#include "train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/error.h"
#include "data/dataset.h"
#include "io/atomic_file.h"
#include "tasks/dataset.h"
#include "tasks/task_kind.h"
#include "train/prediction_file.h"

namespace sono {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / double(v.size());
}

}  // namespace

EvaluationResult evaluate_predictions(const std::string& data_dir, const std::string& pred_dir) {
  const fs::path pred(pred_dir);
  {
    std::error_code ec;
    SONO_CHECK(fs::is_directory(pred, ec), "evaluate", "--pred ", pred_dir,
               fs::exists(pred, ec) ? " is not a folder" : " does not exist");
  }
  data::Dataset ds = tasks::read_dataset(data_dir);
  const std::string csv_dir = (fs::path(ds.root) / "csv_files").lexically_normal().string();
  EvaluationResult r;
  // Each kind's submission file, indexed by task id and image path.
  std::map<std::string, PredictionIndex> indexed;
  for (TaskType type : kTaskTypes) {
    const std::string file = tasks::task_kind(type).submission_file();
    if (file.empty()) continue;
    std::vector<std::string> ids;
    for (const auto& t : ds.tasks)
      if (t.type == type) ids.push_back(t.id);
    std::error_code ec;
    if (!fs::exists(pred / file, ec) && !ids.empty()) {
      std::string names;
      for (const auto& id : ids) names += (names.empty() ? "" : ", ") + id;
      r.warnings.push_back(
          str_cat((pred / file).string(), " does not exist: every row of ", names, " counts as without prediction"));
    }
    indexed[file] = read_prediction_file((pred / file).string());
    // Entries the evaluation cannot use are counted, never dropped unseen.
    for (auto& [task, entries] : indexed[file])
      if (std::find(ids.begin(), ids.end(), task) == ids.end())
        r.warnings.push_back(str_cat((pred / file).string(), ": ", entries.size(), " entries for task '", task,
                                     "', which the dataset has no ", tasks::task_kind(type).category(),
                                     " task of, were ignored"));
  }

  for (size_t t = 0; t < ds.tasks.size(); ++t) {
    const data::TaskInfo& task = ds.tasks[t];
    const tasks::TaskKind& kind = tasks::task_kind(task.type);
    std::vector<const data::Sample*> rows;
    std::set<std::string> images;
    for (const auto& s : ds.samples)
      if (s.task == int64_t(t)) rows.push_back(&s), images.insert(s.csv_image_path);
    const std::string file = kind.submission_file();
    const auto& predictions = indexed[file][task.id];
    int64_t unmatched = 0;
    for (const auto& [image, entry] : predictions) unmatched += images.count(image) == 0;
    if (unmatched > 0)
      r.warnings.push_back(str_cat((pred / file).string(), ": ", unmatched, " entries of task '", task.id,
                                   "' name an image_path that is no row of the task, were ignored"));
    const tasks::EvaluationTask et{
        task, rows, {pred_dir, csv_dir}, predictions, file.empty() ? "" : (pred / file).string()};
    r.results[kind.category()][task.id] = kind.evaluate(et, r.missing[task.id]);
  }

  for (TaskType type : kTaskTypes) {
    const tasks::TaskKind& kind = tasks::task_kind(type);
    const char* category = kind.category();
    if (!r.results.contains(category)) continue;
    for (const char* key : kind.summary_metrics()) {
      std::vector<double> v;
      for (auto& [id, e] : r.results[category].items())
        if (e["num_samples"].get<int64_t>() > 0) v.push_back(e[key].get<double>());
      if (!v.empty()) r.summary[category][key] = mean(v), r.summary[category]["num_tasks"] = int64_t(v.size());
    }
  }
  return r;
}

void write_evaluation(const EvaluationResult& r, const std::string& path) {
  const json j = {
      {"results", r.results}, {"summary", r.summary}, {"missing_predictions", r.missing}, {"warnings", r.warnings}};
  nn::write_file_atomically(path, j.dump(2) + "\n");
}

std::string format_evaluation(const EvaluationResult& r) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(4);
  for (auto& [category, tasks] : r.results.items()) {
    os << "[" << category << "]\n";
    for (auto& [id, e] : tasks.items()) {
      os << "  " << id << ":";
      for (auto& [k, v] : e.items())
        if (v.is_number_float()) os << " " << k << "=" << v.get<double>();
      os << " samples=" << e["num_samples"].get<int64_t>();
      auto m = r.missing.find(id);
      if (m != r.missing.end() && m->second > 0) os << " MISSING_PREDICTIONS=" << m->second;
      os << "\n";
    }
    if (r.summary.contains(category)) {
      os << "  average:";
      for (auto& [k, v] : r.summary[category].items())
        if (v.is_number_float()) os << " " << k << "=" << v.get<double>();
      os << "\n";
    }
  }
  return os.str();
}

}  // namespace sono
