#include "tasks/task_kind.h"

#include "core/autocast.h"
#include "core/error.h"
#include "tasks/kinds.h"

namespace sono::tasks {

const TaskKind& task_kind(TaskType type) {
  // Indexed by the enum's value; checked once against each kind's type().
  static const TaskKind* const kinds[] = {&segmentation_kind(), &classification_kind(), &regression_kind(),
                                          &detection_kind()};
  const size_t i = size_t(type);
  SONO_CHECK(i < sizeof kinds / sizeof kinds[0] && kinds[i]->type() == type, "task kind", "unknown task type ",
             int(type));
  return *kinds[i];
}

const data::TargetCodec& target_codec(TaskType type) { return task_kind(type); }

std::shared_ptr<model::TaskHead> make_head(const model::TaskSpec& spec, const model::HeadInputs& inputs) {
  return task_kind(spec.type).make_head(spec, inputs);
}

int64_t output_channels(const model::TaskSpec& spec) { return task_kind(spec.type).output_channels(spec.num_classes); }

Tensor task_loss(const data::Batch& batch, const Tensor& output) {
  return task_kind(batch.type).loss(batch, autocast::input(autocast::Op::Loss, output));
}

}  // namespace sono::tasks
