#include "train/train_state.h"

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
  s.sampler_at_epoch_start = j.at("sampler");
  s.dropout_offset = j.at("dropout_offset");
  return s;
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
               const TrainOptions& o) {
  nn::NamedTensors tensors = model.state_dict();
  for (auto& [k, v] : opt.state_dict()) tensors.push_back({"optimizer." + k, v});
  auto meta = best_metadata(model, o);
  meta["sono.trainer_state"] = st.to_json().dump();
  nn::write_safetensors(path, tensors, meta);
}

TrainState load_last(const std::string& path, model::MultiTaskModel& model, AdamW& opt) {
  SONO_CHECK(std::filesystem::exists(path), "train --resume", "no checkpoint ", path);
  nn::SafetensorsFile f = nn::read_safetensors(path);
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
  return TrainState::from_json(json::parse(it->second));
}

}  // namespace sono
