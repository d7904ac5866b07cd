#include "tasks/dataset.h"

#include <random>

#include "core/error.h"
#include "tasks/task_kind.h"

namespace sono::tasks {

data::Dataset read_dataset(const std::string& root, data::OnBadRow policy, data::Targets targets,
                           data::CsvOrder order) {
  return data::read_dataset(root, target_codec, policy, targets, order);
}

data::Dataset read_csv_files(const std::vector<std::string>& files, data::OnBadRow policy, data::Targets targets) {
  return data::read_csv_files(files, target_codec, policy, targets);
}

model::MultiTaskModelConfig model_config() {
  model::MultiTaskModelConfig cfg;
  cfg.make_head = make_head;
  return cfg;
}

model::TaskRegistry registry_for(const data::Dataset& ds, bool with_official) {
  model::TaskRegistry reg = with_official ? model::TaskRegistry::official() : model::TaskRegistry();
  for (const auto& t : ds.tasks) reg.add({t.id, t.type, t.num_classes});
  return reg;
}

namespace {

Tensor on(const Tensor& t, Device d) { return t.defined() ? t.to(d) : t; }

}  // namespace

data::Batch synthetic_batch(const model::TaskSpec& task, int64_t batch, int64_t size, Device device, uint64_t seed) {
  SONO_CHECK(batch > 0 && size > 0, "synthetic_batch", "batch and size must be positive, got ", batch, " and ", size);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  data::Batch b;
  b.type = task.type;
  for (int64_t i = 0; i < batch; ++i) b.rows.push_back(i);
  std::vector<float> img(size_t(batch * 3 * size * size));
  for (auto& v : img) v = normal(rng);
  b.images = Tensor::from_vector(img, {batch, 3, size, size});
  task_kind(task.type).synthetic_target(b, task.num_classes, size, rng);
  return batch_to(b, device);
}

data::Batch batch_to(const data::Batch& b, Device device) {
  data::Batch out = b;
  out.images = on(b.images, device);
  out.masks = on(b.masks, device);
  out.labels = on(b.labels, device);
  out.boxes = on(b.boxes, device);
  out.points = on(b.points, device);
  return out;
}

}  // namespace sono::tasks
