#include "model/efficientnet.h"

namespace sono::model {

EfficientNetEncoder::EfficientNetEncoder(const EfficientNetConfig& config)
    : Module("EfficientNetEncoder"), config_(config), plan_(plan_efficientnet(config)) {
  auto bn = [&](int64_t ch) { return std::make_shared<nn::BatchNorm2d>(ch, config.bn_eps, config.bn_momentum); };
  conv_stem_ =
      register_module("_conv_stem", std::make_shared<nn::Conv2d>(config.in_channels, plan_.stem_channels, 3,
                                                                 nn::conv_options(2, plan_.stem_padding), false));
  bn0_ = register_module("_bn0", bn(plan_.stem_channels));
  blocks_ = register_module("_blocks", std::make_shared<nn::ModuleList<nn::MBConvBlock>>());
  for (const auto& b : plan_.blocks) blocks_->push_back(std::make_shared<nn::MBConvBlock>(b));
  conv_head_ = register_module(
      "_conv_head",
      std::make_shared<nn::Conv2d>(plan_.blocks.back().out_channels, plan_.head_channels, 1, Conv2dOptions{}, false));
  bn1_ = register_module("_bn1", bn(plan_.head_channels));
}

std::vector<Tensor> EfficientNetEncoder::forward(const Tensor& x) {
  SONO_CHECK(x.defined() && x.dim() == 4 && x.size(1) == config_.in_channels, "EfficientNetEncoder",
             "expected input [N, ", config_.in_channels, ", H, W], got ", describe(x));
  std::vector<Tensor> features{x};
  Tensor y = bn0_->forward_silu(conv_stem_->forward(x));
  features.push_back(y);
  size_t tap = 0;
  for (size_t i = 0; i < blocks_->size() && tap < plan_.feature_blocks.size(); ++i) {
    y = (*blocks_)[i].forward(y);
    if (int64_t(i) == plan_.feature_blocks[tap]) {
      features.push_back(y);
      ++tap;
    }
  }
  return features;
}

void EfficientNetEncoder::reset_parameters(Generator& gen) {
  conv_stem_->reset_parameters(gen);
  bn0_->reset_parameters();
  for (const auto& b : blocks_->items()) b->reset_parameters(gen);
  conv_head_->reset_parameters(gen);
  bn1_->reset_parameters();
}

EncoderMacs EfficientNetEncoder::macs(int64_t h, int64_t w) const {
  EncoderMacs m;
  m.feature_sizes[0] = {h, w};
  m.stem = conv_stem_->macs(h, w);
  auto hw = conv_stem_->output_size(h, w);
  m.feature_sizes[1] = hw;
  size_t tap = 0;
  for (size_t i = 0; i < blocks_->size() && tap < 4; ++i) {
    nn::MBConvMacs b = (*blocks_)[i].macs(hw.first, hw.second);
    m.expand += b.expand;
    m.depthwise += b.depthwise;
    m.se += b.se;
    m.project += b.project;
    hw = {b.out_h, b.out_w};
    if (int64_t(i) == plan_.feature_blocks[tap]) m.feature_sizes[2 + tap++] = hw;
  }
  return m;
}

}  // namespace sono::model
