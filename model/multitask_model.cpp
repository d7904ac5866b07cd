#include "model/multitask_model.h"

namespace sono::model {

MultiTaskModel::MultiTaskModel(const MultiTaskModelConfig& config) : Module("MultiTaskModel"), config_(config) {
  EfficientNetConfig encoder_config = efficientnet_config(config.encoder);
  if (config.drop_connect_rate) encoder_config.drop_connect_rate = *config.drop_connect_rate;
  encoder_ = register_module("encoder", std::make_shared<EfficientNetEncoder>(encoder_config));
  decoder_ = register_module("fpn_decoder", std::make_shared<FpnDecoder>(encoder_->out_channels(), config.decoder));
  heads_ = register_module("heads", std::make_shared<nn::ModuleDict<TaskHead>>());
  SONO_CHECK(config.make_head != nullptr, "MultiTaskModel",
             "config.make_head is not set (use tasks::make_head or tasks::model_config)");
  const HeadInputs inputs{decoder_->out_channels(), encoder_->out_channels()[5], config.classification_dropout};
  for (const auto& t : config_.tasks.tasks()) heads_->insert(t.id, config.make_head(t, inputs));
  random_ = std::make_shared<nn::RandomContext>(config.random_seed);
  set_random_context(random_);
  reset_parameters(config.init_seed);
}

void MultiTaskModel::reset_parameters(uint64_t seed) {
  Generator gen(seed);
  encoder_->reset_parameters(gen);
  decoder_->reset_parameters(gen);
  for (const auto& kv : heads_->items()) kv.second->reset_parameters(gen);
}

Tensor MultiTaskModel::forward(const Tensor& x, const std::string& task_id) {
  TaskHead& h = head(task_id);  // throws for an unknown task before any work
  std::vector<Tensor> features = encoder_->forward(x);
  if (h.uses_decoder()) return h.forward(decoder_->forward(features));
  return h.forward(features.back());
}

}  // namespace sono::model
