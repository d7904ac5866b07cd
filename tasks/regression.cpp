// Regression (landmarks): num_classes points per row, columns point_<k>_xy
// holding "[x, y]" in original pixels. Head: linear on the pooled last
// encoder feature, 2 outputs per point; loss: MSE on x / W, y / H;
// validation: MAE in pixels at the input size (not part of the score);
// submission: the points normalised and in pixels; evaluation: MRE.
#include <cmath>

#include "data/prepare.h"
#include "ops/ops.h"
#include "tasks/kind_support.h"
#include "tasks/kinds.h"
#include "tasks/metrics.h"

namespace sono::tasks {

using nlohmann::json;

namespace {

constexpr const char* kMae = "MAE (pixels)";

std::string point_column(int64_t k) { return str_cat("point_", k, "_xy"); }

double batch_mae_pixels(const Tensor& output, const Tensor& points, int64_t size) {
  auto p = output.detach().to(Device::cpu()).to(DType::F32).contiguous().to_vector<float>();
  auto t = points.to(Device::cpu()).contiguous().to_vector<float>();
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) s += std::fabs(double(t[i]) * double(size) - double(p[i]) * double(size));
  return s / double(p.size());
}

class Regression final : public TaskKind {
 public:
  TaskType type() const override { return TaskType::Regression; }
  const char* category() const override { return "regression"; }

  bool row_has_target(const data::RowFields& row) const override { return row.get(point_column(1)).has_value(); }
  void read_target(const data::RowFields& row, data::Sample& s) const override {
    for (int64_t k = 1; k <= s.num_classes; ++k) row.point(point_column(k), s.points);
  }
  void allocate_targets(data::Batch& b, int64_t batch, int64_t, int64_t num_classes) const override {
    b.points = Tensor::empty({batch, 2 * num_classes});
  }
  void fill_target(data::Batch& b, int64_t i, const data::Sample& s, const data::ResizedImage& img, int64_t,
                   data::ImageCache*) const override {
    data::point_targets(s, img.height, img.width, b.points.data<float>() + i * 2 * s.num_classes);
  }

  int64_t output_channels(int64_t num_classes) const override { return 2 * num_classes; }
  std::shared_ptr<model::TaskHead> make_head(const model::TaskSpec& spec, const model::HeadInputs& in) const override {
    return std::make_shared<model::RegressionHead>(spec, in.encoder_channels, output_channels(spec.num_classes));
  }

  Tensor loss(const data::Batch& batch, const Tensor& output) const override {
    return mse_loss(output, detail::on(batch.points, output.device()).to(output.dtype()));
  }
  void synthetic_target(data::Batch& b, int64_t c, int64_t, std::mt19937_64& rng) const override {
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    std::vector<float> p(size_t(b.size() * 2 * c));
    for (auto& v : p) v = unit(rng);
    b.points = Tensor::from_vector(p, {b.size(), 2 * c});
  }

  void validation_metrics(const Tensor& out, const data::Batch& batch, int64_t image_size,
                          MetricLists& v) const override {
    v[kMae].push_back(batch_mae_pixels(out, batch.points, image_size));
  }
  bool in_validation_score(const std::string& metric) const override { return metric != kMae; }

  const char* submission_file() const override { return "regression_predictions.json"; }
  void submit(const Tensor& out, const data::Batch& batch, const std::string& task_id, const SubmissionDirs&,
              json& records) const override {
    auto v = out.to(DType::F32).contiguous().to_vector<float>();
    const int64_t k = out.size(1);
    for (int64_t i = 0; i < batch.size(); ++i) {
      const double w = double(batch.widths[size_t(i)]), h = double(batch.heights[size_t(i)]);
      std::vector<double> norm, px;
      for (int64_t j = 0; j < k; ++j) {
        double x = v[size_t(i * k + j)];
        norm.push_back(x);
        px.push_back(x * (j % 2 == 0 ? w : h));
      }
      records.push_back({{"image_path", batch.samples[size_t(i)].csv_image_path},
                         {"task_id", task_id},
                         {"predicted_points_normalized", norm},
                         {"predicted_points_pixels", px}});
    }
  }

  json evaluate(const EvaluationTask& t, int64_t& missing) const override {
    std::vector<double> mre;
    for (const data::Sample* s : t.rows) {
      auto it = t.predictions.find(s->csv_image_path);
      if (it == t.predictions.end()) {
        ++missing;
        continue;
      }
      auto p = detail::numbers(it->second, "predicted_points_pixels", t.where(*s));
      std::vector<double> g = s->points;
      g.resize(size_t(2 * t.task.num_classes), 0.0);  // absent points count as (0, 0), as evaluate.py does
      SONO_CHECK(p.size() == g.size(), "evaluate", t.where(*s), ": predicted_points_pixels has ", p.size(),
                 " numbers, expected ", g.size());
      mre.push_back(metrics::mean_radial_error(p, g));
    }
    return {{"MRE", detail::mean(mre)}, {"num_samples", int64_t(mre.size())}};
  }
  std::vector<const char*> summary_metrics() const override { return {"MRE"}; }
};

}  // namespace

const TaskKind& regression_kind() {
  static const Regression kind;
  return kind;
}

}  // namespace sono::tasks
