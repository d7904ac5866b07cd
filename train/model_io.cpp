#include "train/model_io.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "io/file_format.h"
#include "io/safetensors.h"
#include "io/torch_checkpoint.h"
#include "model/efficientnet_config.h"
#include "model/key_maps.h"
#include "tasks/dataset.h"

namespace sono {

std::string tasks_to_json(const model::TaskRegistry& reg) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& t : reg.tasks()) j.push_back({t.id, task_type_name(t.type), t.num_classes});
  return j.dump();
}

model::TaskRegistry tasks_from_json(const std::string& text) {
  model::TaskRegistry reg;
  try {
    for (const auto& e : nlohmann::json::parse(text)) {
      const std::string id = e.at(0).get<std::string>();
      const int64_t num_classes = e.at(2).get<int64_t>();
      // A head this wide would be gigabytes: the value is damaged, not a model.
      SONO_CHECK(num_classes >= 1 && num_classes <= kMaxMetadataClasses, "model file", "'sono.tasks' metadata: task '",
                 id, "' has num_classes ", num_classes, ", allowed 1..", kMaxMetadataClasses);
      reg.add({id, parse_task_type(e.at(1).get<std::string>()), num_classes});
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat("model file: malformed 'sono.tasks' metadata: ", e.what()));
  }
  return reg;
}

void check_model_metadata(const std::map<std::string, std::string>& meta, const std::string& path) {
  auto enc = meta.find("sono.encoder");
  if (enc != meta.end()) {
    bool known = false;
    for (int i = 0; i <= 7; ++i) known |= enc->second == str_cat("efficientnet-b", i);
    SONO_CHECK(known, "load model", path, ": 'sono.encoder' metadata '", enc->second.substr(0, 64),
               "' is not one of efficientnet-b0 .. efficientnet-b7");
  }
  auto size = meta.find("sono.image_size");
  if (size != meta.end()) {
    const std::string& v = size->second;
    const bool digits = !v.empty() && v.size() <= 6 && v.find_first_not_of("0123456789") == std::string::npos;
    const int64_t n = digits ? std::stoll(v) : -1;
    SONO_CHECK(n >= 32 && n <= kMaxMetadataImageSize && n % 32 == 0, "load model", path,
               ": 'sono.image_size' metadata '", v.substr(0, 64), "' is not a positive multiple of 32 in 32..",
               kMaxMetadataImageSize);
  }
  auto tasks = meta.find("sono.tasks");
  if (tasks != meta.end()) {
    try {
      tasks_from_json(tasks->second);
    } catch (const Error& e) {
      throw Error(str_cat("load model: ", path, ": ", e.what()));
    }
  }
}

std::map<std::string, std::string> model_metadata(const model::MultiTaskModel& model) {
  return {{"sono.encoder", model.config().encoder}, {"sono.tasks", tasks_to_json(model.tasks())}};
}

nn::SafetensorsFile read_weights_file(const std::string& path) {
  if (nn::tensor_file_format(path) != nn::TensorFileFormat::Safetensors) {
    nn::TorchCheckpointOptions o;
    o.unwrap_keys = {"state_dict", "model", "model_state_dict"};
    o.skip_non_tensors = true;
    nn::SafetensorsFile out;
    out.tensors = nn::read_torch_checkpoint(path, o).tensors;
    return out;
  }
  return nn::read_safetensors(path);
}

std::string load_pretrained_encoder(model::MultiTaskModel& model, const std::string& path) {
  nn::SafetensorsFile file = read_weights_file(path);
  check_model_metadata(file.metadata, path);
  std::vector<std::string> keys;
  for (auto& kv : file.tensors) keys.push_back(kv.first);
  nn::EfficientNetLayout layout = nn::detect_efficientnet_layout(keys);
  nn::NamedTensors enc;
  std::string report;
  if (layout == nn::EfficientNetLayout::Official) {
    for (auto& kv : file.tensors)
      if (kv.first.rfind("encoder.", 0) == 0) enc.push_back({kv.first.substr(8), kv.second});
    report = "official model file: using its encoder.* tensors";
  } else {
    nn::KeyMapReport km;
    enc = nn::convert_efficientnet_state_dict(file.tensors, layout, &km);
    report = km.summary();
  }
  nn::LoadOptions lo;
  lo.source = path;
  nn::LoadReport r = nn::load_state_dict(model.encoder(), enc, lo);  // strict: every encoder tensor, nothing else
  return str_cat(report, "\nloaded ", r.loaded, " encoder tensors from ", path);
}

std::string infer_encoder_variant(const nn::NamedTensors& tensors) {
  const std::string blocks_prefix = "encoder._blocks.";
  int64_t stem = -1, head = -1, blocks = 0;
  for (const auto& [key, t] : tensors) {
    if (key == "encoder._conv_stem.weight" && t.dim() == 4) stem = t.size(0);
    if (key == "encoder._conv_head.weight" && t.dim() == 4) head = t.size(0);
    if (key.rfind(blocks_prefix, 0) == 0) {
      const size_t end = key.find('.', blocks_prefix.size());
      const std::string index = key.substr(blocks_prefix.size(), end - blocks_prefix.size());
      if (!index.empty() && index.size() < 6 && index.find_first_not_of("0123456789") == std::string::npos)
        blocks = std::max(blocks, int64_t(std::stoll(index)) + 1);
    }
  }
  // Stem width, head width and block count together tell b0..b7 apart (b1 and
  // b2 differ only in width, b0 and b1 only in depth).
  for (int i = 0; i <= 7; ++i) {
    const std::string name = str_cat("efficientnet-b", i);
    const model::EfficientNetPlan plan = model::plan_efficientnet(model::efficientnet_config(name));
    if (plan.stem_channels == stem && plan.head_channels == head && int64_t(plan.blocks.size()) == blocks) return name;
  }
  return "";
}

LoadedModel load_model_for_dataset(const std::string& path, const data::Dataset& ds, const std::string& encoder) {
  nn::SafetensorsFile file = read_weights_file(path);
  check_model_metadata(file.metadata, path);
  model::MultiTaskModelConfig cfg = tasks::model_config();
  auto enc = file.metadata.find("sono.encoder");
  auto tasks = file.metadata.find("sono.tasks");
  cfg.encoder = enc != file.metadata.end() ? enc->second
                : !encoder.empty()         ? encoder
                                           : infer_encoder_variant(file.tensors);
  SONO_CHECK(!cfg.encoder.empty(), "load model", path,
             " has no 'sono.encoder' metadata and its encoder.* tensors fit no efficientnet-b0..b7; name the "
             "variant (sono predict --encoder)");
  if (tasks != file.metadata.end()) {
    cfg.tasks = tasks_from_json(tasks->second);
    for (const auto& t : ds.tasks) cfg.tasks.add({t.id, t.type, t.num_classes});
  } else {
    cfg.tasks = tasks::registry_for(ds, false);
  }
  LoadedModel out;
  out.metadata = file.metadata;
  out.model = std::make_shared<model::MultiTaskModel>(cfg);
  nn::NamedTensors model_tensors;
  for (auto& kv : file.tensors)
    if (kv.first.rfind("optimizer.", 0) != 0) model_tensors.push_back(kv);
  nn::LoadOptions lo;
  lo.source = path;
  // Heads of tasks the dataset does not have are fine to leave out or to
  // ignore; everything else must match exactly.
  lo.strict = false;
  out.report = nn::load_state_dict(*out.model, model_tensors, lo);
  for (const std::string& key : out.report.missing) {
    bool head_of_dataset_task = false;
    for (const auto& t : ds.tasks) head_of_dataset_task |= key.rfind("heads." + t.id + ".", 0) == 0;
    SONO_CHECK(key.rfind("heads.", 0) == 0 && !head_of_dataset_task, "load model", path, " has no tensor '", key, "'");
  }
  return out;
}

}  // namespace sono
