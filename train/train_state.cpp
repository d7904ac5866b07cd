#include "train/train_state.h"

#include <cstdio>
#include <filesystem>

#include "io/safetensors.h"
#include "train/model_io.h"

namespace sono {

using nlohmann::json;

json TrainState::to_json() const {
  return {{"epoch", epoch},
          {"step_in_epoch", step_in_epoch},
          {"global_step", global_step},
          {"best_score", best_score},
          {"best_epoch", best_epoch},
          {"sampler", sampler_at_epoch_start},
          {"dropout_offset", dropout_offset}};
}

TrainState TrainState::from_json(const json& j) {
  TrainState s;
  s.epoch = j.at("epoch");
  s.step_in_epoch = j.at("step_in_epoch");
  s.global_step = j.at("global_step");
  s.best_score = j.at("best_score").is_null() ? -INFINITY : j.at("best_score").get<double>();
  s.best_epoch = j.at("best_epoch");
  s.sampler_at_epoch_start = j.at("sampler").get<std::string>();
  s.dropout_offset = j.at("dropout_offset");
  SONO_CHECK(s.epoch >= 0 && s.step_in_epoch >= 0 && s.global_step >= 0 && s.best_epoch >= -1, "trainer state",
             "negative epoch ", s.epoch, ", step ", s.step_in_epoch, ", global step ", s.global_step, " or best epoch ",
             s.best_epoch);
  return s;
}

json train_config(const TrainOptions& o, const data::Dataset& ds) {
  // FNV-1a over the rows' task and image path in order: the split and the
  // sampler follow the rows, so another dataset (or another order) differs.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const std::string& text) {
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
  };
  for (const auto& s : ds.samples) {
    mix(ds.tasks[size_t(s.task)].id);
    mix(s.csv_image_path);
  }
  char fp[17];
  std::snprintf(fp, sizeof fp, "%016llx", (unsigned long long)h);
  return {{"--encoder", o.encoder},
          {"--recipe", o.recipe},
          {"--size", o.image_size},
          {"--batch", o.batch_size},
          {"--epochs", o.epochs},
          {"--seed", o.seed},
          {"--val-fraction", o.val_fraction},
          {"--lr", o.lr_encoder},
          {"--lr-heads", o.lr_heads},
          {"--lr-decoder", o.lr_decoder},
          {"--eta-min", o.eta_min},
          {"--weight-decay", o.weight_decay},
          {"--bn-calibration", o.bn_calibration_batches},
          {"--data", str_cat("(", ds.samples.size(), " rows, fingerprint ", fp, ")")}};
}

std::vector<ParamGroup> make_groups(const model::MultiTaskModel& m, const TrainOptions& o) {
  auto group = [&](const std::string& name, const nn::Module& mod, double lr) {
    ParamGroup g;
    g.name = name;
    g.params = mod.parameters();
    g.lr = g.initial_lr = lr;
    g.weight_decay = o.weight_decay;
    return g;
  };
  std::vector<ParamGroup> groups{group("encoder", m.encoder(), o.lr_encoder)};
  if (o.recipe != "official") groups.push_back(group("fpn_decoder", m.decoder(), o.lr_decoder));
  for (const auto& [id, head] : m.heads().items()) groups.push_back(group("heads." + id, *head, o.lr_heads));
  return groups;
}

std::map<std::string, std::string> best_metadata(const model::MultiTaskModel& model, const TrainOptions& o) {
  auto meta = model_metadata(model);
  meta["sono.image_size"] = std::to_string(o.image_size);
  meta["sono.recipe"] = o.recipe;
  return meta;
}

void save_last(const std::string& path, const model::MultiTaskModel& model, const AdamW& opt, const TrainState& st,
               const TrainOptions& o, const json& config) {
  nn::NamedTensors tensors = model.state_dict();
  for (auto& [k, v] : opt.state_dict()) tensors.push_back({"optimizer." + k, v});
  auto meta = best_metadata(model, o);
  meta["sono.trainer_state"] = st.to_json().dump();
  meta["sono.train_config"] = config.dump();
  nn::write_safetensors(path, tensors, meta);
}

namespace {

std::string option_value(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// Refuses a checkpoint of another configuration, naming every differing option.
void check_same_config(const std::string& path, const nn::SafetensorsFile& f, const json& config) {
  auto it = f.metadata.find("sono.train_config");
  SONO_CHECK(it != f.metadata.end(), "train --resume", path,
             " has no 'sono.train_config' metadata (written by an older Sono, or not by `sono train`); start a new "
             "run");
  json stored;
  try {
    stored = json::parse(it->second);
  } catch (const json::exception& e) {
    throw Error(str_cat("train --resume: ", path, ": malformed 'sono.train_config' metadata: ", e.what()));
  }
  SONO_CHECK(stored.is_object(), "train --resume", path, ": 'sono.train_config' metadata is not a JSON object");
  std::string was, asks;
  for (auto& [key, value] : config.items()) {
    auto s = stored.find(key);
    if (s != stored.end() && *s == value) continue;
    was += " " + key + " " + (s == stored.end() ? std::string("(not recorded)") : option_value(*s));
    asks += " " + key + " " + option_value(value);
  }
  SONO_CHECK(was.empty(), "train", "--resume: ", path, " was trained with", was, "; this run asks", asks,
             " (resume with the same options, or start a new run with another --out)");
}

}  // namespace

TrainState load_last(const std::string& path, model::MultiTaskModel& model, AdamW& opt, const json& config) {
  SONO_CHECK(std::filesystem::exists(path), "train --resume", "no checkpoint ", path);
  nn::SafetensorsFile f = nn::read_safetensors(path);
  check_model_metadata(f.metadata, path);
  check_same_config(path, f, config);
  nn::NamedTensors model_part;
  std::map<std::string, Tensor> opt_part;
  for (auto& [k, v] : f.tensors) {
    if (k.rfind("optimizer.", 0) == 0) opt_part[k.substr(10)] = v;
    else model_part.push_back({k, v});
  }
  nn::LoadOptions lo;
  lo.source = path;
  nn::load_state_dict(model, model_part, lo);
  opt.load_state_dict(opt_part);
  auto it = f.metadata.find("sono.trainer_state");
  SONO_CHECK(it != f.metadata.end(), "train --resume", path, " has no trainer state");
  try {
    return TrainState::from_json(json::parse(it->second));
  } catch (const std::exception& e) {
    throw Error(str_cat("train --resume: ", path, ": malformed 'sono.trainer_state' metadata: ", e.what()));
  }
}

}  // namespace sono
