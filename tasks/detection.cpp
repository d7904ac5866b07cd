// Detection: at most one box per row (x_min, y_min, x_max, y_max in original
// pixels, all or none; none = (-1, -1, -1, -1)). Head: FPNGridDetectionHead
// on the decoder, 5 channels per cell; loss: BCE + 8 * L1 at the centre
// cell; read-out: the box at the most confident cell; validation: IoU;
// submission: the box normalised and in pixels; evaluation: IoU of
// bbox_pixels over the rows with a box.
#include "tasks/detection.h"

#include <algorithm>

#include "data/prepare.h"
#include "ops/ops.h"
#include "tasks/kind_support.h"
#include "tasks/kinds.h"
#include "tasks/metrics.h"

namespace sono::tasks {

using nlohmann::json;

void centre_cells(const Tensor& boxes, int64_t h, int64_t w, std::vector<int64_t>& rows, std::vector<int64_t>& cols) {
  SONO_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "detection_loss", "boxes must be [B, 4], got ", boxes.describe());
  auto b = boxes.detach().to(Device::cpu()).to(DType::F32).contiguous().to_vector<float>();
  const int64_t n = boxes.size(0);
  rows.resize(size_t(n));
  cols.resize(size_t(n));
  auto cell = [](float centre, int64_t size) {
    int64_t v = int64_t(centre * float(size));  // .long() truncates toward zero
    return std::min(std::max(v, int64_t(0)), size - 1);
  };
  for (int64_t i = 0; i < n; ++i) {
    const float* r = &b[size_t(i * 4)];
    cols[size_t(i)] = cell((r[0] + r[2]) / 2.0f, w);
    rows[size_t(i)] = cell((r[1] + r[3]) / 2.0f, h);
  }
}

Tensor detection_loss(const Tensor& output, const Tensor& boxes) {
  SONO_CHECK(output.dim() == 4 && output.size(1) == 5, "detection_loss", "head output must be [B, 5, h, w], got ",
             output.describe());
  SONO_CHECK(boxes.dim() == 2 && boxes.size(0) == output.size(0), "detection_loss", "boxes ", boxes.describe(),
             " do not match the output ", output.describe());
  // The cells and the valid rows are decided on the host: the loader's boxes
  // are CPU tensors, so this reads no device memory and does not synchronize.
  // Only the small index and target tensors travel to the output's device.
  const Tensor host_boxes = boxes.detach().to(Device::cpu()).to(DType::F32).contiguous();
  const Device dev = output.device();
  std::vector<int64_t> rows, cols;
  centre_cells(host_boxes, output.size(2), output.size(3), rows, cols);
  const auto b = host_boxes.to_vector<float>();
  std::vector<int64_t> valid;  // rows with a box: x1 >= 0
  for (int64_t i = 0; i < boxes.size(0); ++i)
    if (b[size_t(i * 4)] >= 0) valid.push_back(i);
  if (valid.empty()) return Tensor::zeros({}, output.dtype(), dev).set_requires_grad(true);
  auto on_device = [&](const std::vector<int64_t>& v) { return Tensor::from_vector(v, {int64_t(v.size())}).to(dev); };
  Tensor cells = gather_cells(output, on_device(rows), on_device(cols));
  Tensor target = boxes.to(dev).to(output.dtype());
  Tensor pred = cells;
  if (valid.size() != size_t(boxes.size(0))) {
    std::vector<Tensor> pred_rows, target_rows;
    for (int64_t i : valid) {
      pred_rows.push_back(cells.slice(0, i, i + 1));
      target_rows.push_back(target.slice(0, i, i + 1));
    }
    pred = concat(pred_rows, 0);
    target = concat(target_rows, 0);
  }
  Tensor objectness = pred.slice(1, 4, 5);
  Tensor cls = bce_with_logits(objectness, Tensor::full(objectness.shape(), 1.0, output.dtype(), dev));
  Tensor box = l1_loss(pred.slice(1, 0, 4), target);
  return cls + box * 8.0;
}

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

constexpr const char* kBoxColumns[4] = {"x_min", "y_min", "x_max", "y_max"};

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

class Detection final : public TaskKind {
 public:
  TaskType type() const override { return TaskType::Detection; }
  const char* category() const override { return "detection"; }

  // A row without a box is a valid target (-1, -1, -1, -1), so every row has one.
  bool row_has_target(const data::RowFields&) const override { return true; }
  void read_target(const data::RowFields& row, data::Sample& s) const override {
    int present = 0;
    for (const char* c : kBoxColumns) present += row.get(c).has_value();
    if (present == 0) return;  // no box: the target becomes (-1, -1, -1, -1)
    if (present < 4)
      for (const char* c : kBoxColumns)
        if (!row.get(c)) row.fail(c, str_cat("box is incomplete: ", c, " is missing"));
    double v[4];
    for (int k = 0; k < 4; ++k) v[k] = row.number(kBoxColumns[k]);
    s.has_box = true;
    s.box = {v[0], v[1], v[2], v[3]};
    if (v[0] < 0 || v[1] < 0) row.fail(v[0] < 0 ? "x_min" : "y_min", "box coordinates must be >= 0");
    if (!(v[0] < v[2])) row.fail("x_max", str_cat("x_max ", v[2], " must be > x_min ", v[0]));
    if (!(v[1] < v[3])) row.fail("y_max", str_cat("y_max ", v[3], " must be > y_min ", v[1]));
  }
  void allocate_targets(data::Batch& b, int64_t batch, int64_t, int64_t) const override {
    b.boxes = Tensor::empty({batch, 4});
  }
  void fill_target(data::Batch& b, int64_t i, const data::Sample& s, const data::ResizedImage& img, int64_t,
                   data::ImageCache*) const override {
    data::box_target(s, img.height, img.width, b.boxes.data<float>() + i * 4);
  }

  int64_t output_channels(int64_t) const override { return 5; }  // box + objectness
  std::shared_ptr<model::TaskHead> make_head(const model::TaskSpec& spec, const model::HeadInputs& in) const override {
    return std::make_shared<model::DetectionHead>(spec, in.decoder_channels, output_channels(spec.num_classes));
  }

  Tensor loss(const data::Batch& batch, const Tensor& output) const override {
    return detection_loss(output, batch.boxes);
  }
  void synthetic_target(data::Batch& b, int64_t, int64_t, std::mt19937_64& rng) const override {
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    std::vector<float> boxes;
    for (int64_t i = 0; i < b.size(); ++i) {
      float x0 = 0.6f * unit(rng), y0 = 0.6f * unit(rng);
      boxes.insert(boxes.end(), {x0, y0, x0 + 0.1f + 0.3f * unit(rng), y0 + 0.1f + 0.3f * unit(rng)});
    }
    b.boxes = Tensor::from_vector(boxes, {b.size(), 4});
  }

  void validation_metrics(const Tensor& out, const data::Batch& batch, int64_t, MetricLists& v) const override {
    v["IoU"].push_back(batch_iou(out, batch.boxes));
  }

  const char* submission_file() const override { return "detection_predictions.json"; }
  void submit(const Tensor& out, const data::Batch& batch, const std::string& task_id, const SubmissionDirs&,
              json& records) const override {
    std::vector<std::array<float, 4>> boxes;
    best_cell_boxes(out, boxes);
    for (int64_t i = 0; i < batch.size(); ++i) {
      const double w = double(batch.widths[size_t(i)]), h = double(batch.heights[size_t(i)]);
      const auto& b = boxes[size_t(i)];
      std::vector<double> norm{b[0], b[1], b[2], b[3]};
      std::vector<double> px{b[0] * w, b[1] * h, b[2] * w, b[3] * h};
      records.push_back({{"image_path", batch.samples[size_t(i)].csv_image_path},
                         {"task_id", task_id},
                         {"bbox_normalized", norm},
                         {"bbox_pixels", px}});
    }
  }

  json evaluate(const EvaluationTask& t, int64_t& missing) const override {
    std::vector<double> ious;
    for (const data::Sample* s : t.rows) {
      if (!s->has_box) continue;  // evaluate.py scores only rows with a ground-truth box
      auto it = t.predictions.find(s->csv_image_path);
      if (it == t.predictions.end()) {
        ++missing;
        continue;
      }
      auto p = detail::numbers(it->second, "bbox_pixels", t.where(*s));
      SONO_CHECK(p.size() == 4, "evaluate", t.where(*s), ": bbox_pixels must have 4 numbers, got ", p.size());
      double g[4] = {s->box.x_min, s->box.y_min, s->box.x_max, s->box.y_max};
      ious.push_back(metrics::box_iou(p.data(), g));
    }
    return {{"IoU", detail::mean(ious)}, {"num_samples", int64_t(ious.size())}};
  }
  std::vector<const char*> summary_metrics() const override { return {"IoU"}; }
};

}  // namespace

const TaskKind& detection_kind() {
  static const Detection kind;
  return kind;
}

}  // namespace sono::tasks
