#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "core/autograd.h"
#include "tasks/dataset.h"
#include "tasks/task_kind.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::tasks;

TEST_CASE("task_kind maps every TaskType to its own implementation, and names round-trip") {
  std::set<std::string> categories;
  for (TaskType t : kTaskTypes) {
    const TaskKind& k = task_kind(t);
    CHECK(k.type() == t);
    CHECK(parse_task_type(task_type_name(t)) == t);
    categories.insert(k.category());
    CHECK(&target_codec(t) == static_cast<const data::TargetCodec*>(&k));
  }
  CHECK(categories == std::set<std::string>{"segmentation", "classification", "regression", "detection"});
  CHECK_THROWS_WITH_AS(task_kind(TaskType(17)), doctest::Contains("unknown task type"), Error);
  CHECK_THROWS_WITH_AS(parse_task_type("seg"), doctest::Contains("unknown 'seg'"), Error);
}

TEST_CASE("each kind's head, synthetic batch, loss and validation metric fit together") {
  // One task per kind on a small model: the head's output has the kind's
  // width, the synthetic target is valid for the loss (finite, with a
  // gradient) and the validation metric has the kind's names.
  const std::vector<model::TaskSpec> specs = {{"seg", TaskType::Segmentation, 3},
                                              {"cls", TaskType::Classification, 4},
                                              {"reg", TaskType::Regression, 2},
                                              {"det", TaskType::Detection, 1}};
  model::MultiTaskModelConfig cfg = model_config();
  cfg.encoder = "efficientnet-b0";
  cfg.tasks = model::TaskRegistry(specs);
  model::MultiTaskModel m(cfg);
  const std::map<std::string, std::set<std::string>> metric_names = {
      {"seg", {"Dice"}}, {"cls", {"Accuracy", "F1-Score"}}, {"reg", {"MAE (pixels)"}}, {"det", {"IoU"}}};
  uint64_t seed = 3;
  for (const auto& spec : specs) {
    CAPTURE(spec.id);
    const TaskKind& kind = task_kind(spec.type);
    data::Batch b = synthetic_batch(spec, 2, 64, Device::cpu(), ++seed);
    Tensor out = m.forward(b.images, spec.id);
    CHECK(out.size(1) == output_channels(spec));
    Tensor loss = task_loss(b, out);
    REQUIRE(std::isfinite(loss.item()));
    loss.backward();
    int64_t with_grad = 0;
    for (const Tensor& p : m.head(spec.id).parameters()) with_grad += p.grad().defined();
    CHECK(with_grad > 0);
    MetricLists values;
    {
      NoGradGuard no_grad;
      kind.validation_metrics(out.detach(), b, 64, values);
    }
    std::set<std::string> names;
    for (auto& [name, list] : values) {
      names.insert(name);
      REQUIRE(list.size() == 1);
      CHECK(std::isfinite(list[0]));
      CHECK(kind.in_validation_score(name) == (name != "MAE (pixels)"));
    }
    CHECK(names == metric_names.at(spec.id));
  }
}

TEST_CASE("synthetic targets are valid: classes in range, boxes inside the image, points in [0, 1]") {
  data::Batch seg = synthetic_batch({"s", TaskType::Segmentation, 4}, 3, 32, Device::cpu(), 1);
  for (int64_t v : seg.masks.contiguous().to_vector<int64_t>()) CHECK((v >= 0 && v < 4));
  data::Batch cls = synthetic_batch({"c", TaskType::Classification, 5}, 3, 32, Device::cpu(), 2);
  CHECK(cls.labels.shape() == Shape{3});
  for (int64_t v : cls.labels.contiguous().to_vector<int64_t>()) CHECK((v >= 0 && v < 5));
  data::Batch det = synthetic_batch({"d", TaskType::Detection, 1}, 3, 32, Device::cpu(), 3);
  auto boxes = det.boxes.contiguous().to_vector<float>();
  for (size_t i = 0; i < boxes.size(); i += 4) {
    CHECK((boxes[i] >= 0 && boxes[i] < boxes[i + 2] && boxes[i + 2] <= 1));
    CHECK((boxes[i + 1] >= 0 && boxes[i + 1] < boxes[i + 3] && boxes[i + 3] <= 1));
  }
  data::Batch reg = synthetic_batch({"r", TaskType::Regression, 3}, 2, 32, Device::cpu(), 4);
  CHECK(reg.points.shape() == Shape{2, 6});
  for (float v : reg.points.contiguous().to_vector<float>()) CHECK((v >= 0 && v <= 1));
  CHECK_THROWS_WITH_AS(synthetic_batch({"r", TaskType::Regression, 3}, 0, 32, Device::cpu(), 4),
                       doctest::Contains("synthetic_batch"), Error);
}
