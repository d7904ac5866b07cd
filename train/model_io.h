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
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "model/multitask_model.h"

namespace sono {

// The largest values a model file's metadata may hold.
constexpr int64_t kMaxMetadataClasses = 100000;
constexpr int64_t kMaxMetadataImageSize = 4096;

std::string tasks_to_json(const model::TaskRegistry& reg);
model::TaskRegistry tasks_from_json(const std::string& text);  // num_classes checked: 1..kMaxMetadataClasses

// Checks the Sono metadata of the model file `path` where it enters:
// "sono.encoder" one of efficientnet-b0..b7, "sono.image_size" a multiple of
// 32 in 32..kMaxMetadataImageSize, "sono.tasks" well formed with num_classes
// in range. Throws sono::Error naming the file, the key and the value.
// load_model_for_dataset calls it (predict, evaluate); so does train --resume.
void check_model_metadata(const std::map<std::string, std::string>& meta, const std::string& path);

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

// The EfficientNet variant ("efficientnet-b0".."b7") whose encoder.* tensors
// these are, from the shapes of the stem and head convs and the number of
// blocks; "" when none fits (no encoder.* tensors, another architecture).
std::string infer_encoder_variant(const nn::NamedTensors& tensors);

// Rebuilds the model stored in `path` (safetensors or an official .pth; keys
// outside the model, e.g. optimizer.*, are ignored) and checks that it has a
// head for every task of `ds`. Files without Sono metadata (best_model.pth)
// get the dataset's tasks, as model.py builds them, and the encoder `encoder`,
// or when that is empty the one infer_encoder_variant() recognises.
LoadedModel load_model_for_dataset(const std::string& path, const data::Dataset& ds, const std::string& encoder = "");

}  // namespace sono
