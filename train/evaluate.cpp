#include "train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "data/dataset.h"
#include "io/atomic_file.h"
#include "tasks/dataset.h"
#include "tasks/task_kind.h"

namespace sono {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / double(v.size());
}

// The file's JSON, or null when it does not exist.
json read_json_file(const fs::path& p) {
  std::error_code ec;
  if (!fs::exists(p, ec)) return json();
  SONO_CHECK(fs::is_regular_file(p, ec), "evaluate", p.string(), " is not a regular file");
  std::ifstream f(p);
  SONO_CHECK(f.good(), "evaluate", "cannot read ", p.string());
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    throw Error(str_cat("evaluate: ", p.string(), " is not valid JSON: ", e.what()));
  }
}

// {task_id: {image_path: entry}} from a prediction list. An entry without a
// string task_id and image_path, or a second entry for the same (task,
// image), is an error: which one to score would be a guess.
std::map<std::string, std::map<std::string, json>> index_predictions(const json& list, const fs::path& file) {
  std::map<std::string, std::map<std::string, json>> out;
  std::map<std::pair<std::string, std::string>, size_t> first;  // (task, image) -> entry index
  if (list.is_null()) return out;
  SONO_CHECK(list.is_array(), "evaluate", file.string(), " must hold a JSON list");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    SONO_CHECK(e.is_object() && e.contains("task_id") && e["task_id"].is_string() && e.contains("image_path") &&
                   e["image_path"].is_string(),
               "evaluate", file.string(), " entry ", i, " lacks a string task_id or image_path");
    const std::string task = e["task_id"].get<std::string>(), image = e["image_path"].get<std::string>();
    auto [it, fresh] = first.emplace(std::make_pair(task, image), i);
    SONO_CHECK(fresh, "evaluate", file.string(), " entries ", it->second, " and ", i, " both predict task ", task,
               ", image ", image, ": keep one prediction per row");
    out[task][image] = e;
  }
  return out;
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
  std::map<std::string, std::map<std::string, std::map<std::string, json>>> indexed;
  for (TaskType type : kTaskTypes) {
    const std::string file = tasks::task_kind(type).submission_file();
    if (file.empty()) continue;
    std::vector<std::string> ids;
    for (const auto& t : ds.tasks)
      if (t.type == type) ids.push_back(t.id);
    const json list = read_json_file(pred / file);
    if (list.is_null() && !ids.empty()) {
      std::string names;
      for (const auto& id : ids) names += (names.empty() ? "" : ", ") + id;
      r.warnings.push_back(
          str_cat((pred / file).string(), " does not exist: every row of ", names, " counts as without prediction"));
    }
    indexed[file] = index_predictions(list, pred / file);
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
