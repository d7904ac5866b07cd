#pragma once
// Bridges the dataset's task list and the model's task registry.
#include "data/dataset.h"
#include "model/tasks.h"

namespace sono {

model::TaskType to_model_type(data::TaskType t);
// The dataset's tasks in first-appearance order; with `with_official`, the
// baseline's 27 tasks first (as its TASK_CONFIGURATIONS) and the dataset's
// other tasks after them.
model::TaskRegistry registry_for(const data::Dataset& ds, bool with_official);

}  // namespace sono
