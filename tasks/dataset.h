#pragma once
// The task kinds wired into the lower libraries: the dataset reader with
// every kind's target codec, the model's head factory, the registry of a
// dataset's tasks, and a synthetic batch of any task.
#include <cstdint>
#include <string>
#include <vector>

#include "core/device.h"
#include "data/batch.h"
#include "data/dataset.h"
#include "model/multitask_model.h"
#include "model/tasks.h"

namespace sono::tasks {

// data::read_dataset / read_csv_files with the kinds' target codecs.
data::Dataset read_dataset(const std::string& root, data::OnBadRow policy = data::OnBadRow::Stop,
                           data::Targets targets = data::Targets::Required,
                           data::CsvOrder order = data::CsvOrder::Sorted);
data::Dataset read_csv_files(const std::vector<std::string>& files, data::OnBadRow policy = data::OnBadRow::Stop,
                             data::Targets targets = data::Targets::Required);

// A model configuration whose heads are built by the kinds (tasks::make_head).
model::MultiTaskModelConfig model_config();

// The dataset's tasks in first-appearance order; with `with_official`, the
// baseline's 27 tasks first (as its TASK_CONFIGURATIONS) and the dataset's
// other tasks after them.
model::TaskRegistry registry_for(const data::Dataset& ds, bool with_official);

// A random batch for `task` with images [batch, 3, size, size] ~ N(0, 1) and
// a valid target of the task's kind (every segmentation class present, boxes
// inside the image), all on `device`. Deterministic in `seed`.
data::Batch synthetic_batch(const model::TaskSpec& task, int64_t batch, int64_t size, Device device, uint64_t seed);

// A copy of `b` whose images and targets live on `device` (the loader makes
// them on the CPU; the losses want them next to the model's output).
data::Batch batch_to(const data::Batch& b, Device device);

}  // namespace sono::tasks
