#pragma once
// What `sono train` keeps between runs: the trainer's position (TrainState,
// saved in last.safetensors so --resume continues exactly: same batches,
// same augmentation, same dropout masks, same updates), the optimizer's
// parameter groups, and the checkpoint files.
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/multitask_model.h"
#include "optim/adamw.h"
#include "train/trainer.h"

namespace sono {

struct TrainState {
  int64_t epoch = 0;          // current epoch
  int64_t step_in_epoch = 0;  // steps of `epoch` already done
  int64_t global_step = 0;
  double best_score = -INFINITY;
  int64_t best_epoch = -1;
  std::string sampler_at_epoch_start;  // TaskSampler::state() before this epoch's plan was drawn
  uint64_t dropout_offset = 0;         // model random stream position

  nlohmann::json to_json() const;
  static TrainState from_json(const nlohmann::json& j);
};

// Decoder and heads train at lr_heads/lr_decoder, the encoder at lr_encoder
// (docs/reference-model.md 6.1); the official recipe has no decoder group.
std::vector<ParamGroup> make_groups(const model::MultiTaskModel& m, const TrainOptions& o);

// The model's metadata plus the run's image size and recipe (what predict reads).
std::map<std::string, std::string> best_metadata(const model::MultiTaskModel& model, const TrainOptions& o);

// last.safetensors: model + "optimizer."-prefixed optimizer state + the trainer state.
void save_last(const std::string& path, const model::MultiTaskModel& model, const AdamW& opt, const TrainState& st,
               const TrainOptions& o);
// Loads what save_last wrote into `model` and `opt`; returns the trainer state.
TrainState load_last(const std::string& path, model::MultiTaskModel& model, AdamW& opt);

}  // namespace sono
