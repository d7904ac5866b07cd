#pragma once
// The EfficientNet encoder as SMP 0.5.0 uses it (lukemelas layout, depth 5):
// children _conv_stem, _bn0, _blocks.<i>, _conv_head, _bn1 (the last two are
// kept for the state dict and never run; there is no _fc).
#include <vector>

#include "layers/conv.h"
#include "layers/mbconv.h"
#include "layers/norm.h"
#include "model/efficientnet_config.h"

namespace sono::model {

struct EncoderMacs {
  int64_t stem = 0;
  int64_t expand = 0, depthwise = 0, se = 0, project = 0;
  int64_t pointwise() const { return expand + se + project; }  // all 1x1 convs (SE included)
  int64_t total() const { return stem + pointwise() + depthwise; }
  std::array<std::pair<int64_t, int64_t>, 6> feature_sizes{};  // (h, w) of each feature
};

class EfficientNetEncoder : public nn::Module {
 public:
  explicit EfficientNetEncoder(const EfficientNetConfig& config);

  // Six features: [input, stem output, then the outputs of plan().feature_blocks].
  std::vector<Tensor> forward(const Tensor& x);
  // PyTorch defaults: convs kaiming-uniform a=sqrt(5) (+ bias U(+-1/sqrt(fan_in))), BN 1/0.
  void reset_parameters(Generator& gen);
  EncoderMacs macs(int64_t h, int64_t w) const;

  const EfficientNetConfig& config() const { return config_; }
  const EfficientNetPlan& plan() const { return plan_; }
  const std::array<int64_t, 6>& out_channels() const { return plan_.out_channels; }
  nn::Conv2d& conv_stem() const { return *conv_stem_; }
  nn::BatchNorm2d& bn_stem() const { return *bn0_; }
  const nn::ModuleList<nn::MBConvBlock>& blocks() const { return *blocks_; }
  nn::Conv2d& conv_head() const { return *conv_head_; }  // unused in forward
  nn::BatchNorm2d& bn_head() const { return *bn1_; }     // unused in forward

 private:
  EfficientNetConfig config_;
  EfficientNetPlan plan_;
  std::shared_ptr<nn::Conv2d> conv_stem_, conv_head_;
  std::shared_ptr<nn::BatchNorm2d> bn0_, bn1_;
  std::shared_ptr<nn::ModuleList<nn::MBConvBlock>> blocks_;
};

}  // namespace sono::model
