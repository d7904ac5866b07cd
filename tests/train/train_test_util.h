#pragma once
// Shared by the trainer tests (test_trainer.cpp, test_train_bad_input.cpp): a
// scratch folder, a small phantom dataset, and the small B0 configuration
// they train with.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "data/phantom.h"
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

}  // namespace sono::test
