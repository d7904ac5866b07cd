#pragma once
// The baseline's MultiTaskModel: encoder (EfficientNet), fpn_decoder (FPN),
// heads (ModuleDict keyed by task id, in registry order). forward(x, task)
// always runs the encoder; segmentation and detection then run the decoder
// and the head, classification and regression run only their head on the
// last encoder feature (so the decoder's Dropout2d draws nothing for them).
#include <memory>
#include <optional>
#include <string>

#include "layers/module.h"
#include "model/efficientnet.h"
#include "model/fpn_decoder.h"
#include "model/heads.h"
#include "model/tasks.h"

namespace sono::model {

struct MultiTaskModelConfig {
  std::string encoder = "efficientnet-b4";
  FpnDecoderConfig decoder;
  double classification_dropout = 0.2;
  // Replaces the encoder variant's drop-connect rate (0.2 for B0..B7) when
  // set. With decoder.dropout and classification_dropout, 0 switches every
  // random layer off while BatchNorm stays in train mode (parity fixtures).
  std::optional<double> drop_connect_rate;
  TaskRegistry tasks = TaskRegistry::official();
  // Builds each task's head (tasks::make_head); required.
  HeadFactory make_head = nullptr;
  uint64_t init_seed = 0;    // parameter initialisation stream
  uint64_t random_seed = 1;  // dropout / drop-connect stream
};

class MultiTaskModel : public nn::Module {
 public:
  explicit MultiTaskModel(const MultiTaskModelConfig& config);

  // Output for one task: segmentation [N, C, H, W] logits; classification
  // [N, C]; regression [N, 2 * points]; detection [N, 5, H/4, W/4].
  Tensor forward(const Tensor& x, const std::string& task_id);

  // Re-initialises every parameter and buffer (docs/reference-model.md 7.4): encoder and
  // heads PyTorch defaults, decoder SMP's initialize_decoder; drawn in order
  // encoder, decoder, heads from one Philox stream with this seed.
  void reset_parameters(uint64_t seed);

  const MultiTaskModelConfig& config() const { return config_; }
  const TaskRegistry& tasks() const { return config_.tasks; }
  EfficientNetEncoder& encoder() const { return *encoder_; }
  FpnDecoder& decoder() const { return *decoder_; }
  TaskHead& head(const std::string& task_id) const { return heads_->at(task_id); }
  const nn::ModuleDict<TaskHead>& heads() const { return *heads_; }
  // The random stream shared by every dropout / drop-connect in the model.
  nn::RandomContext& random() const { return *random_; }

 private:
  MultiTaskModelConfig config_;
  std::shared_ptr<EfficientNetEncoder> encoder_;
  std::shared_ptr<FpnDecoder> decoder_;
  std::shared_ptr<nn::ModuleDict<TaskHead>> heads_;
  std::shared_ptr<nn::RandomContext> random_;
};

}  // namespace sono::model
