#pragma once
// EfficientNet's MBConv block in the lukemelas layout (child names
// _expand_conv, _bn0, _depthwise_conv, _bn1, _se_reduce, _se_expand,
// _project_conv, _bn2).
#include "layers/conv.h"
#include "layers/norm.h"

namespace sono::nn {

struct MBConvConfig {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t expand_ratio = 1;  // 1: no expand conv and no _bn0
  int64_t kernel_size = 3;
  int64_t stride = 1;
  double se_ratio = 0.25;       // squeeze width = max(1, int(in_channels * se_ratio)); <= 0: no SE
  Padding2d depthwise_padding;  // static padding of the depthwise conv (1x1 convs have none)
  double bn_eps = 1e-3;
  double bn_momentum = 0.01;  // PyTorch convention (lukemelas: 1 - 0.99)
  double drop_connect = 0.0;  // this block's stochastic-depth probability (training, residual only)
};

// Multiply-accumulates of one sample, by kind of conv.
struct MBConvMacs {
  int64_t expand = 0, depthwise = 0, se = 0, project = 0;
  int64_t out_h = 0, out_w = 0;
  int64_t total() const { return expand + depthwise + se + project; }
};

class MBConvBlock : public UnaryModule {
 public:
  explicit MBConvBlock(const MBConvConfig& config);
  Tensor forward(const Tensor& x) override;
  void reset_parameters(Generator& gen);  // PyTorch defaults for every conv and BN

  const MBConvConfig& config() const { return config_; }
  int64_t expanded_channels() const { return config_.in_channels * config_.expand_ratio; }
  int64_t squeeze_channels() const;
  bool has_residual() const { return config_.stride == 1 && config_.in_channels == config_.out_channels; }
  MBConvMacs macs(int64_t h, int64_t w) const;

  Conv2d& depthwise_conv() const { return *depthwise_conv_; }

 private:
  MBConvConfig config_;
  std::shared_ptr<Conv2d> expand_conv_, depthwise_conv_, se_reduce_, se_expand_, project_conv_;
  std::shared_ptr<BatchNorm2d> bn0_, bn1_, bn2_;
};

}  // namespace sono::nn
