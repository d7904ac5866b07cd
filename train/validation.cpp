#include "train/validation.h"

#include <array>
#include <cmath>

#include "core/autograd.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "ops/reduce.h"
#include "train/metrics.h"
#include "train/progress.h"

namespace sono {

void best_cell_boxes(const Tensor& output, std::vector<std::array<float, 4>>& boxes) {
  const int64_t b = output.size(0), hw = output.size(2) * output.size(3);
  auto v = output.detach().to(Device::cpu()).to(DType::F32).contiguous().to_vector<float>();
  boxes.resize(size_t(b));
  for (int64_t i = 0; i < b; ++i) {
    const float* base = &v[size_t(i * 5 * hw)];
    int64_t best = 0;
    for (int64_t k = 1; k < hw; ++k)
      if (base[4 * hw + k] > base[4 * hw + best]) best = k;
    for (int c = 0; c < 4; ++c) boxes[size_t(i)][size_t(c)] = base[c * hw + best];
  }
}

namespace {

std::vector<int64_t> argmax_classes(const Tensor& logits) {
  return argmax(logits.detach(), 1).to(Device::cpu()).contiguous().to_vector<int64_t>();
}

// Foreground Dice of utils.calculate_dice_coefficient over the whole batch.
double batch_dice(const Tensor& logits, const Tensor& masks) {
  auto pred = argmax_classes(logits);
  auto gt = masks.to(Device::cpu()).contiguous().to_vector<int64_t>();
  double inter = 0, uni = 0;
  for (size_t i = 0; i < gt.size(); ++i) {
    inter += gt[i] != 0 && pred[i] == gt[i];
    uni += (gt[i] != 0) + (pred[i] != 0);
  }
  return (2.0 * inter + 1e-6) / (uni + 1e-6);
}

double batch_iou(const Tensor& output, const Tensor& boxes) {
  std::vector<std::array<float, 4>> pred;
  best_cell_boxes(output, pred);
  auto gt = boxes.to(Device::cpu()).contiguous().to_vector<float>();
  double sum = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    const float* t = &gt[i * 4];
    const auto& p = pred[i];
    // float32 arithmetic as numpy does on the float32 arrays of utils.calculate_iou
    float iw = std::max(0.0f, std::min(t[2], p[2]) - std::max(t[0], p[0]));
    float ih = std::max(0.0f, std::min(t[3], p[3]) - std::max(t[1], p[1]));
    float inter = iw * ih;
    float uni = (t[2] - t[0]) * (t[3] - t[1]) + (p[2] - p[0]) * (p[3] - p[1]) - inter;
    sum += double(inter) / (double(uni) + 1e-6);
  }
  return sum / double(pred.size());
}

double batch_mae_pixels(const Tensor& output, const Tensor& points, int64_t size) {
  auto p = output.detach().to(Device::cpu()).to(DType::F32).contiguous().to_vector<float>();
  auto t = points.to(Device::cpu()).contiguous().to_vector<float>();
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) s += std::fabs(double(t[i]) * double(size) - double(p[i]) * double(size));
  return s / double(p.size());
}

}  // namespace

ValidationResult validate(model::MultiTaskModel& model, const data::Dataset& ds, const std::vector<int64_t>& rows,
                          const ValidationOptions& opt, std::shared_ptr<data::ImageCache> cache) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  data::LoaderOptions lo;
  lo.batch.image_size = opt.image_size;
  lo.batch.augment = false;
  lo.num_workers = opt.num_workers;
  data::Loader loader(ds, lo, std::move(cache));
  auto plan = data::sequential_plan(ds.samples, rows, opt.batch_size);
  loader.start(plan, 0);

  std::map<std::string, std::map<std::string, std::vector<double>>> values;
  ValidationResult result;
  ProgressBar bar("validation", int64_t(plan.size()), opt.progress);
  data::Batch batch;
  int64_t done = 0;
  while (loader.next(batch)) {
    const std::string& task = ds.tasks[size_t(batch.task)].id;
    Tensor out = model.forward(batch.images.to(opt.device), task);
    auto& v = values[task];
    switch (batch.type) {
      case data::TaskType::Classification: {
        auto pred = argmax_classes(out);
        auto gt = batch.labels.contiguous().to_vector<int64_t>();
        v["Accuracy"].push_back(metrics::accuracy(gt, pred));
        v["F1-Score"].push_back(metrics::f1_macro(gt, pred));
        break;
      }
      case data::TaskType::Segmentation: v["Dice"].push_back(batch_dice(out, batch.masks)); break;
      case data::TaskType::Detection: v["IoU"].push_back(batch_iou(out, batch.boxes)); break;
      case data::TaskType::Regression:
        v["MAE (pixels)"].push_back(batch_mae_pixels(out, batch.points, opt.image_size));
        break;
    }
    result.images += batch.size();
    bar.update(++done);
  }
  bar.finish();

  std::map<std::string, std::vector<double>> columns;  // metric -> per-task means
  for (auto& [task, metrics_of_task] : values)
    for (auto& [metric, list] : metrics_of_task) {
      double mean = 0;
      for (double x : list) mean += x;
      mean /= double(list.size());
      result.per_task[task][metric] = mean;
      if (metric != "MAE (pixels)") columns[metric].push_back(mean);
    }
  double score = 0;
  for (auto& [metric, list] : columns) {
    double m = 0;
    for (double x : list) m += x;
    score += m / double(list.size());
  }
  result.score = columns.empty() ? 0.0 : score / double(columns.size());
  model.train(was_training);
  return result;
}

}  // namespace sono
