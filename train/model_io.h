#pragma once
// Building a model for a dataset and reading/writing model files.
//
// A Sono weights file is safetensors holding the state dict under the
// official names (encoder.*, fpn_decoder.*, heads.<task>.*) and metadata
// "sono.encoder" and "sono.tasks" (JSON [[id, type, num_classes], ...]) so a
// model can be rebuilt from the file alone. Files without that metadata (e.g.
// a converted official best_model.pth) are read with the encoder named by the
// caller and the dataset's tasks.
#include <map>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "layers/safetensors.h"
#include "layers/state_dict.h"
#include "model/multitask_model.h"

namespace sono {

std::string tasks_to_json(const model::TaskRegistry& reg);
model::TaskRegistry tasks_from_json(const std::string& text);

// Metadata describing `model` (encoder variant and tasks).
std::map<std::string, std::string> model_metadata(const model::MultiTaskModel& model);

struct LoadedModel {
  std::shared_ptr<model::MultiTaskModel> model;
  nn::LoadReport report;
  std::map<std::string, std::string> metadata;  // of the file (empty for .pth)
};

// The tensors and metadata of a weights file: safetensors, or a PyTorch
// checkpoint (.pth/.pt, zip or legacy format; read natively and safely).
nn::SafetensorsFile read_weights_file(const std::string& path);

// Loads ImageNet (or any) encoder weights into model.encoder(): lukemelas /
// SMP, torchvision, timm layouts (renamed) or a whole official model (its
// encoder.* part). Every encoder tensor must be found; the classifier is
// dropped. Returns a human-readable report of what was loaded and dropped.
std::string load_pretrained_encoder(model::MultiTaskModel& model, const std::string& path);

// Rebuilds the model stored in `path` (safetensors; keys outside the model,
// e.g. optimizer.*, are ignored) and checks that it has a head for every task
// of `ds`. `encoder` is used when the file has no Sono metadata.
LoadedModel load_model_for_dataset(const std::string& path, const data::Dataset& ds,
                                   const std::string& encoder = "efficientnet-b4");

}  // namespace sono
