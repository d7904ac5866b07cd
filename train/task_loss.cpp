#include "train/task_loss.h"

#include "ops/ops.h"

namespace sono {

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
  std::vector<int64_t> rows, cols;
  centre_cells(boxes, output.size(2), output.size(3), rows, cols);
  Tensor cells = gather_cells(output, Tensor::from_vector(rows, {int64_t(rows.size())}).to(output.device()),
                              Tensor::from_vector(cols, {int64_t(cols.size())}).to(output.device()));
  auto b = boxes.detach().to(Device::cpu()).to(DType::F32).contiguous().to_vector<float>();
  std::vector<Tensor> pred_rows, target_rows;
  for (int64_t i = 0; i < boxes.size(0); ++i) {
    if (!(b[size_t(i * 4)] >= 0)) continue;  // valid rows: x1 >= 0
    pred_rows.push_back(cells.slice(0, i, i + 1));
    target_rows.push_back(boxes.slice(0, i, i + 1));
  }
  if (pred_rows.empty()) return Tensor::zeros({}, output.dtype(), output.device()).set_requires_grad(true);
  Tensor pred = concat(pred_rows, 0);
  Tensor target = concat(target_rows, 0).to(output.dtype());
  Tensor objectness = pred.slice(1, 4, 5);
  Tensor cls = bce_with_logits(objectness, Tensor::full(objectness.shape(), 1.0, output.dtype(), output.device()));
  Tensor box = l1_loss(pred.slice(1, 0, 4), target);
  return cls + box * 8.0;
}

Tensor task_loss(const data::Batch& batch, const Tensor& output) {
  switch (batch.type) {
    case data::TaskType::Segmentation: return dice_loss(output, batch.masks);
    case data::TaskType::Classification: return cross_entropy(output, batch.labels);
    case data::TaskType::Regression: return mse_loss(output, batch.points.to(output.dtype()));
    case data::TaskType::Detection: return detection_loss(output, batch.boxes);
  }
  throw Error("task_loss: unknown task type");
}

}  // namespace sono
