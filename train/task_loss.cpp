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

Tensor task_loss(const data::Batch& batch, const Tensor& output) {
  // The loader builds targets on the CPU; the losses take them next to the
  // output (ops reject mixed devices). to() is a no-op when already there.
  // An undefined target stays undefined, for the loss to report it.
  auto on = [dev = output.device()](const Tensor& t) { return t.defined() ? t.to(dev) : t; };
  switch (batch.type) {
    case data::TaskType::Segmentation: return dice_loss(output, on(batch.masks));
    case data::TaskType::Classification: return cross_entropy(output, on(batch.labels));
    case data::TaskType::Regression: return mse_loss(output, on(batch.points).to(output.dtype()));
    case data::TaskType::Detection: return detection_loss(output, batch.boxes);
  }
  throw Error("task_loss: unknown task type");
}

}  // namespace sono
