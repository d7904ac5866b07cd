#include "train/tasks.h"

#include "core/error.h"

namespace sono {

model::TaskType to_model_type(data::TaskType t) {
  switch (t) {
    case data::TaskType::Segmentation: return model::TaskType::Segmentation;
    case data::TaskType::Classification: return model::TaskType::Classification;
    case data::TaskType::Detection: return model::TaskType::Detection;
    case data::TaskType::Regression: return model::TaskType::Regression;
  }
  throw Error("task type: unknown value");
}

model::TaskRegistry registry_for(const data::Dataset& ds, bool with_official) {
  model::TaskRegistry reg = with_official ? model::TaskRegistry::official() : model::TaskRegistry();
  for (const auto& t : ds.tasks) reg.add({t.id, to_model_type(t.type), t.num_classes});
  return reg;
}

}  // namespace sono
