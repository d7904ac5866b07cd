#pragma once
// Shared by the trainer tests (test_trainer.cpp, test_train_bad_input.cpp,
// the host-sync tests and their CUDA twins): a scratch folder, a small phantom
// dataset, the small B0 configuration they train with, and a model of one
// task per task type with its optimizer.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "data/phantom.h"
#include "model/multitask_model.h"
#include "optim/adamw.h"
#include "tasks/dataset.h"
#include "train/trainer.h"

namespace sono::test {

// An empty folder `prefix` + `name` + pid under the temporary directory.
inline std::filesystem::path scratch_dir(const std::string& prefix, const std::string& name) {
  std::filesystem::path p = std::filesystem::temp_directory_path() / (prefix + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// Phantom images of 64 px up to `max_size` px, `per_task` per task.
inline data::PhantomOptions small_phantom_options(int64_t per_task, int64_t max_size, uint64_t seed) {
  data::PhantomOptions o;
  o.images_per_task = per_task;
  o.min_size = 64;
  o.max_size = max_size;
  o.seed = seed;
  return o;
}

// B0 at 64x64, batch 4, one worker, no progress bar, a quarter for validation.
inline TrainOptions small_train_options(const std::string& data, const std::filesystem::path& out, int64_t epochs) {
  TrainOptions o;
  o.data_dir = data;
  o.out_dir = out.string();
  o.encoder = "efficientnet-b0";
  o.image_size = 64;
  o.batch_size = 4;
  o.epochs = epochs;
  o.num_workers = 1;
  o.progress = false;
  o.seed = 5;
  o.val_fraction = 0.25;
  return o;
}

// One task per task type, as bench/bench_model.cpp times them.
inline constexpr const char* kOneTaskPerType[] = {"cardiac_multi", "organ_cls", "thyroid_nodule_det", "IUGC"};

// The official model configuration with only kOneTaskPerType's tasks.
inline model::MultiTaskModelConfig one_task_per_type(const std::string& encoder, uint64_t init_seed) {
  model::MultiTaskModelConfig cfg = tasks::model_config();
  cfg.encoder = encoder;
  std::vector<model::TaskSpec> specs;
  for (const char* id : kOneTaskPerType) specs.push_back(model::TaskRegistry::official().at(id));
  cfg.tasks = model::TaskRegistry(specs);
  cfg.init_seed = init_seed;
  return cfg;
}

// AdamW over every parameter in one group at `lr`.
inline AdamW single_group(const model::MultiTaskModel& m, double lr) {
  ParamGroup g;
  g.name = "all";
  g.params = m.parameters();
  g.lr = g.initial_lr = lr;
  return AdamW({g});
}

}  // namespace sono::test
