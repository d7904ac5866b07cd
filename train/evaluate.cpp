#include "train/evaluate.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/resize.h"
#include "train/metrics.h"
#include "train/predict.h"

namespace sono {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json_file(const fs::path& p) {
  std::ifstream f(p);
  if (!f) return json();
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    throw Error(str_cat("evaluate: ", p.string(), " is not valid JSON: ", e.what()));
  }
}

// {task_id: {image_path: entry}} from a prediction list.
std::map<std::string, std::map<std::string, json>> index_predictions(const json& list, const fs::path& file) {
  std::map<std::string, std::map<std::string, json>> out;
  if (list.is_null()) return out;
  SONO_CHECK(list.is_array(), "evaluate", file.string(), " must hold a JSON list");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    SONO_CHECK(e.is_object() && e.contains("task_id") && e.contains("image_path"), "evaluate", file.string(),
               " entry ", i, " lacks task_id or image_path");
    out[e["task_id"].get<std::string>()][e["image_path"].get<std::string>()] = e;
  }
  return out;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / double(v.size());
}

std::vector<double> numbers(const json& j, const std::string& key, const std::string& where) {
  SONO_CHECK(j.contains(key) && j[key].is_array(), "evaluate", where, ": '", key, "' must be a list of numbers");
  return j[key].get<std::vector<double>>();
}

}  // namespace

EvaluationResult evaluate_predictions(const std::string& data_dir, const std::string& pred_dir) {
  data::Dataset ds = data::read_dataset(data_dir);
  const std::string csv_dir = (fs::path(ds.root) / "csv_files").lexically_normal().string();
  EvaluationResult r;
  const fs::path pred(pred_dir);
  auto cls_pred = index_predictions(read_json_file(pred / "classification_predictions.json"),
                                    pred / "classification_predictions.json");
  auto det_pred = index_predictions(read_json_file(pred / "detection_predictions.json"), pred / "detection_predictions.json");
  auto reg_pred = index_predictions(read_json_file(pred / "regression_predictions.json"),
                                    pred / "regression_predictions.json");

  for (size_t t = 0; t < ds.tasks.size(); ++t) {
    const data::TaskInfo& task = ds.tasks[t];
    std::vector<const data::Sample*> rows;
    for (const auto& s : ds.samples)
      if (s.task == int64_t(t)) rows.push_back(&s);
    int64_t& missing = r.missing[task.id];
    const int64_t c = task.num_classes;
    switch (task.type) {
      case data::TaskType::Segmentation: {
        std::vector<std::vector<double>> dsc(static_cast<size_t>(c)), hd(static_cast<size_t>(c));
        int64_t n = 0;
        for (const data::Sample* s : rows) {
          fs::path p = pred / submission_mask_path(fs::path(s->mask_path).lexically_relative(csv_dir).generic_string());
          if (!fs::exists(p)) {
            ++missing;
            continue;
          }
          data::Image gt = data::read_mask(s->mask_path, c);
          data::Image pm = data::read_mask(p.string(), 256);
          if (pm.height != gt.height || pm.width != gt.width) pm = data::resize_nearest(pm, gt.height, gt.width);
          auto sc = metrics::segmentation_scores(pm.pixels.data(), gt.pixels.data(), gt.height, gt.width, int(c));
          for (int64_t k = 0; k < c; ++k) {
            dsc[size_t(k)].push_back(sc.dice[size_t(k)]);
            hd[size_t(k)].push_back(sc.hausdorff[size_t(k)]);
          }
          ++n;
        }
        json per_class = json::object();
        std::vector<double> fg_dsc, fg_hd;
        for (int64_t k = 0; k < c && n > 0; ++k) {
          per_class["class_" + std::to_string(k)] = {{"DSC", mean(dsc[size_t(k)])}, {"HD", mean(hd[size_t(k)])}};
          if (k > 0) fg_dsc.push_back(mean(dsc[size_t(k)])), fg_hd.push_back(mean(hd[size_t(k)]));
        }
        r.results["segmentation"][task.id] = {
            {"DSC", mean(fg_dsc)}, {"HD", mean(fg_hd)}, {"num_samples", n}, {"per_class", per_class}};
        break;
      }
      case data::TaskType::Classification: {
        std::vector<int64_t> yt, yp;
        std::vector<std::vector<double>> probs;
        bool all_probs = true;
        for (const data::Sample* s : rows) {
          auto it = cls_pred[task.id].find(s->csv_image_path);
          if (it == cls_pred[task.id].end()) {
            ++missing;
            continue;
          }
          yt.push_back(s->label);
          yp.push_back(it->second.at("predicted_class").get<int64_t>());
          if (it->second.contains("predicted_probs") && !it->second["predicted_probs"].is_null())
            probs.push_back(numbers(it->second, "predicted_probs", s->csv_image_path));
          else
            all_probs = false;
        }
        json entry = {{"AUC", 0.0}, {"Accuracy", 0.0}, {"F1_macro", 0.0}, {"F1_weighted", 0.0},
                      {"MCC", 0.0}, {"num_samples", int64_t(yt.size())}, {"per_class", json::object()}};
        if (!yt.empty()) {
          std::optional<double> auc;
          if (all_probs && probs.size() == yt.size()) {
            if (c == 2) {
              std::vector<double> s1;
              for (auto& p : probs) s1.push_back(p.size() > 1 ? p[1] : NAN);
              auc = metrics::auc_binary(yt, s1);
            } else if (c > 2) {
              auc = metrics::auc_ovr_macro(yt, probs);
            }
          }
          entry["AUC"] = auc.value_or(0.0);
          entry["Accuracy"] = metrics::accuracy(yt, yp);
          entry["F1_macro"] = metrics::f1_macro(yt, yp);
          entry["F1_weighted"] = metrics::f1_weighted(yt, yp);
          entry["MCC"] = metrics::mcc(yt, yp);
          // As evaluate.py: per_class F1 indexes the F1 list of the labels present.
          auto f1 = metrics::f1_per_label(yt, yp);
          for (int64_t k = 0; k < c; ++k)
            entry["per_class"]["class_" + std::to_string(k)] = {{"F1", k < int64_t(f1.size()) ? f1[size_t(k)] : 0.0}};
        }
        r.results["classification"][task.id] = entry;
        break;
      }
      case data::TaskType::Detection: {
        std::vector<double> ious;
        for (const data::Sample* s : rows) {
          if (!s->has_box) continue;  // evaluate.py scores only rows with a ground-truth box
          auto it = det_pred[task.id].find(s->csv_image_path);
          if (it == det_pred[task.id].end()) {
            ++missing;
            continue;
          }
          auto p = numbers(it->second, "bbox_pixels", s->csv_image_path);
          SONO_CHECK(p.size() == 4, "evaluate", "bbox_pixels of ", s->csv_image_path, " must have 4 numbers");
          double g[4] = {s->box.x_min, s->box.y_min, s->box.x_max, s->box.y_max};
          ious.push_back(metrics::box_iou(p.data(), g));
        }
        r.results["detection"][task.id] = {{"IoU", mean(ious)}, {"num_samples", int64_t(ious.size())}};
        break;
      }
      case data::TaskType::Regression: {
        std::vector<double> mre;
        for (const data::Sample* s : rows) {
          auto it = reg_pred[task.id].find(s->csv_image_path);
          if (it == reg_pred[task.id].end()) {
            ++missing;
            continue;
          }
          auto p = numbers(it->second, "predicted_points_pixels", s->csv_image_path);
          std::vector<double> g = s->points;
          g.resize(size_t(2 * c), 0.0);  // absent points count as (0, 0), as evaluate.py does
          SONO_CHECK(p.size() == g.size(), "evaluate", "predicted_points_pixels of ", s->csv_image_path, " has ",
                     p.size(), " numbers, expected ", g.size());
          mre.push_back(metrics::mean_radial_error(p, g));
        }
        r.results["regression"][task.id] = {{"MRE", mean(mre)}, {"num_samples", int64_t(mre.size())}};
        break;
      }
    }
  }

  auto average = [&](const char* category, std::initializer_list<const char*> keys) {
    if (!r.results.contains(category)) return;
    for (const char* key : keys) {
      std::vector<double> v;
      for (auto& [id, e] : r.results[category].items())
        if (e["num_samples"].get<int64_t>() > 0) v.push_back(e[key].get<double>());
      if (!v.empty()) r.summary[category][key] = mean(v), r.summary[category]["num_tasks"] = int64_t(v.size());
    }
  };
  average("segmentation", {"DSC", "HD"});
  average("classification", {"Accuracy", "AUC", "F1_macro", "F1_weighted", "MCC"});
  average("detection", {"IoU"});
  average("regression", {"MRE"});
  return r;
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
