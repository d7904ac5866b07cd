#include "layers/mbconv.h"

#include <algorithm>

#include "core/autocast.h"
#include "layers/dropout.h"
#include "layers/fusion.h"
#include "layers/squeeze_excite.h"
#include "ops/binary.h"
#include "ops/drop_connect_add.h"

namespace sono::nn {

MBConvBlock::MBConvBlock(const MBConvConfig& c) : UnaryModule("MBConvBlock"), config_(c) {
  SONO_CHECK(c.in_channels > 0 && c.out_channels > 0 && c.expand_ratio >= 1 && c.stride >= 1, "MBConvBlock",
             "invalid configuration in ", c.in_channels, " out ", c.out_channels, " expand ", c.expand_ratio,
             " stride ", c.stride);
  SONO_CHECK(c.drop_connect >= 0.0 && c.drop_connect < 1.0, "MBConvBlock", "drop_connect must be in [0, 1), got ",
             c.drop_connect);
  const int64_t exp = expanded_channels();
  auto bn = [&](int64_t ch) { return std::make_shared<BatchNorm2d>(ch, c.bn_eps, c.bn_momentum); };
  if (c.expand_ratio != 1) {
    expand_conv_ =
        register_module("_expand_conv", std::make_shared<Conv2d>(c.in_channels, exp, 1, Conv2dOptions{}, false));
    bn0_ = register_module("_bn0", bn(exp));
  }
  depthwise_conv_ = register_module(
      "_depthwise_conv",
      std::make_shared<Conv2d>(exp, exp, c.kernel_size, conv_options(c.stride, c.depthwise_padding, exp), false));
  bn1_ = register_module("_bn1", bn(exp));
  if (squeeze_channels() > 0) {
    se_reduce_ = register_module("_se_reduce", std::make_shared<Conv2d>(exp, squeeze_channels(), 1));
    se_expand_ = register_module("_se_expand", std::make_shared<Conv2d>(squeeze_channels(), exp, 1));
  }
  project_conv_ =
      register_module("_project_conv", std::make_shared<Conv2d>(exp, c.out_channels, 1, Conv2dOptions{}, false));
  bn2_ = register_module("_bn2", bn(c.out_channels));
}

int64_t MBConvBlock::squeeze_channels() const {
  if (config_.se_ratio <= 0.0) return 0;
  return std::max<int64_t>(1, int64_t(double(config_.in_channels) * config_.se_ratio));
}

void MBConvBlock::reset_parameters(Generator& gen) {
  for (auto* conv :
       {expand_conv_.get(), depthwise_conv_.get(), se_reduce_.get(), se_expand_.get(), project_conv_.get()})
    if (conv) conv->reset_parameters(gen);
  for (auto* bn : {bn0_.get(), bn1_.get(), bn2_.get()})
    if (bn) bn->reset_parameters();
}

Tensor MBConvBlock::forward(const Tensor& input) {
  Tensor x = input;
  if (expand_conv_) x = bn0_->forward_silu(expand_conv_->forward(x));
  x = bn1_->forward_silu(depthwise_conv_->forward(x));
  if (se_reduce_) x = squeeze_excite(x, *se_reduce_, *se_expand_);
  x = bn2_->forward(project_conv_->forward(x));
  if (!has_residual()) return x;
  Tensor skip = input;
  autocast::promote(x, skip);  // under autocast a block fed f32 (not from the model's stem) adds in f32
  const bool drop = is_training() && config_.drop_connect > 0.0;
  if (drop && fused_ops_enabled()) return drop_connect_add(x, sample_mask(*this, x, config_.drop_connect), skip);
  if (drop) x = random_mask(*this, x, config_.drop_connect, MaskKind::Sample);
  return add(x, skip);
}

MBConvMacs MBConvBlock::macs(int64_t h, int64_t w) const {
  MBConvMacs m;
  if (expand_conv_) m.expand = expand_conv_->macs(h, w);
  m.depthwise = depthwise_conv_->macs(h, w);
  auto hw = depthwise_conv_->output_size(h, w);
  if (se_reduce_) m.se = se_reduce_->macs(1, 1) + se_expand_->macs(1, 1);
  m.project = project_conv_->macs(hw.first, hw.second);
  m.out_h = hw.first;
  m.out_w = hw.second;
  return m;
}

}  // namespace sono::nn
