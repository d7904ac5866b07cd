#include "train/predict.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/autograd.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/resize.h"
#include "data/sampler.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "train/progress.h"
#include "train/validation.h"

namespace sono {

namespace fs = std::filesystem;

std::string submission_mask_path(const std::string& p) {
  std::string s = p;
  for (size_t pos; (pos = s.find("../")) != std::string::npos;) s.erase(pos, 3);
  return s;
}

namespace {

// Relative mask path as the CSV wrote it (the sample keeps the resolved one).
std::string csv_mask_path(const data::Sample& s, const std::string& csv_dir) {
  return fs::path(s.mask_path).lexically_relative(csv_dir).generic_string();
}

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
                       const PredictOptions& opt) {
  model.eval();
  NoGradGuard no_grad;
  fs::create_directories(out_dir);
  const std::string csv_dir = (fs::path(ds.root) / "csv_files").lexically_normal().string();
  std::vector<int64_t> rows(ds.samples.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = int64_t(i);
  for (const auto& t : ds.tasks)
    SONO_CHECK(model.tasks().contains(t.id), "predict", "the model has no head for task '", t.id,
               "' of the dataset in ", ds.root);

  data::LoaderOptions lo;
  lo.batch.image_size = opt.image_size;
  lo.batch.load_targets = false;
  lo.num_workers = opt.num_workers;
  data::Loader loader(ds, lo);
  auto plan = data::sequential_plan(ds.samples, rows, opt.batch_size);
  loader.start(plan, 0);

  nlohmann::json cls = nlohmann::json::array(), det = nlohmann::json::array(), reg = nlohmann::json::array();
  PredictSummary summary;
  ProgressBar bar("predict", int64_t(plan.size()), opt.progress);
  data::Batch batch;
  int64_t done = 0;
  while (loader.next(batch)) {
    const std::string& task = ds.tasks[size_t(batch.task)].id;
    Tensor out = model.forward(batch.images.to(opt.device), task).to(Device::cpu()).contiguous();
    const int64_t n = batch.size();
    switch (batch.type) {
      case data::TaskType::Segmentation: {
        auto labels = argmax(out, 1).contiguous().to_vector<int64_t>();
        const int64_t h = out.size(2), w = out.size(3);
        for (int64_t i = 0; i < n; ++i) {
          data::Image small(h, w, 1);
          for (int64_t k = 0; k < h * w; ++k) small.pixels[size_t(k)] = uint8_t(labels[size_t(i * h * w + k)]);
          data::Image full = data::resize_nearest(small, batch.heights[size_t(i)], batch.widths[size_t(i)]);
          const data::Sample& s = batch.samples[size_t(i)];
          fs::path dst = fs::path(out_dir) / submission_mask_path(csv_mask_path(s, csv_dir));
          fs::create_directories(dst.parent_path());
          data::write_png(dst.string(), full);
        }
        break;
      }
      case data::TaskType::Classification: {
        auto probs = softmax(out.to(DType::F64), 1).contiguous().to_vector<double>();
        const int64_t c = out.size(1);
        for (int64_t i = 0; i < n; ++i) {
          std::vector<double> p(probs.begin() + i * c, probs.begin() + (i + 1) * c);
          int64_t best = int64_t(std::max_element(p.begin(), p.end()) - p.begin());
          cls.push_back({{"image_path", batch.samples[size_t(i)].csv_image_path},
                         {"task_id", task},
                         {"predicted_class", best},
                         {"predicted_probs", p}});
        }
        break;
      }
      case data::TaskType::Detection: {
        std::vector<std::array<float, 4>> boxes;
        best_cell_boxes(out, boxes);
        for (int64_t i = 0; i < n; ++i) {
          const double w = double(batch.widths[size_t(i)]), h = double(batch.heights[size_t(i)]);
          const auto& b = boxes[size_t(i)];
          std::vector<double> norm{b[0], b[1], b[2], b[3]};
          std::vector<double> px{b[0] * w, b[1] * h, b[2] * w, b[3] * h};
          det.push_back({{"image_path", batch.samples[size_t(i)].csv_image_path},
                         {"task_id", task},
                         {"bbox_normalized", norm},
                         {"bbox_pixels", px}});
        }
        break;
      }
      case data::TaskType::Regression: {
        auto v = out.to(DType::F32).contiguous().to_vector<float>();
        const int64_t k = out.size(1);
        for (int64_t i = 0; i < n; ++i) {
          const double w = double(batch.widths[size_t(i)]), h = double(batch.heights[size_t(i)]);
          std::vector<double> norm, px;
          for (int64_t j = 0; j < k; ++j) {
            double x = v[size_t(i * k + j)];
            norm.push_back(x);
            px.push_back(x * (j % 2 == 0 ? w : h));
          }
          reg.push_back({{"image_path", batch.samples[size_t(i)].csv_image_path},
                         {"task_id", task},
                         {"predicted_points_normalized", norm},
                         {"predicted_points_pixels", px}});
        }
        break;
      }
    }
    summary.per_task[task] += n;
    summary.images += n;
    bar.update(++done);
  }
  bar.finish();
  summary.seconds = bar.elapsed_seconds();
  if (!cls.empty()) write_json(fs::path(out_dir) / "classification_predictions.json", cls);
  if (!det.empty()) write_json(fs::path(out_dir) / "detection_predictions.json", det);
  if (!reg.empty()) write_json(fs::path(out_dir) / "regression_predictions.json", reg);
  return summary;
}

}  // namespace sono
