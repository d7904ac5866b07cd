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

#include "data/dataset.h"
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

// The options that decide what a run computes, keyed by their `sono train`
// spelling ("--size": 256, ...; "--data": the dataset's row count and a
// fingerprint of its rows, not its path, so a moved dataset still resumes).
// Stored in last.safetensors as "sono.train_config"; --resume compares it.
nlohmann::json train_config(const TrainOptions& o, const data::Dataset& ds);

// last.safetensors: model + "optimizer."-prefixed optimizer state + the
// trainer state + the run's train_config.
void save_last(const std::string& path, const model::MultiTaskModel& model, const AdamW& opt, const TrainState& st,
               const TrainOptions& o, const nlohmann::json& config);
// Loads what save_last wrote into `model` and `opt`; returns the trainer
// state. A checkpoint whose stored train_config differs from `config` is
// refused before anything is loaded, in one message naming the differing
// options with both values.
TrainState load_last(const std::string& path, model::MultiTaskModel& model, AdamW& opt, const nlohmann::json& config);

}  // namespace sono
