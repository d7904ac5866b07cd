#include "model/heads.h"

#include "core/autocast.h"
#include "layers/dropout.h"
#include "ops/activation.h"
#include "ops/gather.h"
#include "ops/pool.h"

namespace sono::model {

SegmentationHead::SegmentationHead(const TaskSpec& spec, int64_t in_channels, int64_t out_channels, int64_t upsampling)
    : TaskHead("SegmentationHead", spec) {
  conv_ = register_module("0", std::make_shared<nn::Conv2d>(in_channels, out_channels, 1));
  upsample_ = register_module("1", std::make_shared<nn::UpsamplingBilinear2d>(upsampling));
  register_module("2", std::make_shared<nn::Identity>());
}

Tensor SegmentationHead::forward(const Tensor& x) { return upsample_->forward(conv_->forward(x)); }

ClassificationHead::ClassificationHead(const TaskSpec& spec, int64_t in_channels, int64_t out_channels, double dropout)
    : TaskHead("ClassificationHead", spec) {
  head_ = register_module("head", std::make_shared<nn::Sequential>());
  head_->push_back(std::make_shared<nn::GlobalAvgPool2d>());
  head_->push_back(std::make_shared<nn::Flatten>());
  head_->push_back(std::make_shared<nn::Dropout>(dropout));
  linear_ = std::make_shared<nn::Linear>(in_channels, out_channels);
  head_->push_back(linear_);
  head_->push_back(std::make_shared<nn::Identity>());
}

RegressionHead::RegressionHead(const TaskSpec& spec, int64_t in_channels, int64_t out_channels)
    : TaskHead("RegressionHead", spec) {
  linear_ = register_module("linear", std::make_shared<nn::Linear>(in_channels, out_channels));
}

Tensor RegressionHead::forward(const Tensor& x) { return linear_->forward(global_avg_pool2d(x).flatten(1)); }

DetectionHead::DetectionHead(const TaskSpec& spec, int64_t in_channels, int64_t out_channels)
    : TaskHead("FPNGridDetectionHead", spec) {
  conv_block_ = register_module("conv_block", std::make_shared<nn::Sequential>());
  auto conv3x3 = [&] {
    return std::make_shared<nn::Conv2d>(in_channels, in_channels, 3, Conv2dOptions::symmetric(1), false);
  };
  conv0_ = conv3x3();
  bn1_ = std::make_shared<nn::BatchNorm2d>(in_channels, 1e-5, 0.1);
  conv3_ = conv3x3();
  bn4_ = std::make_shared<nn::BatchNorm2d>(in_channels, 1e-5, 0.1);
  conv6_ = std::make_shared<nn::Conv2d>(in_channels, out_channels, 1);
  conv_block_->push_back(conv0_);
  conv_block_->push_back(bn1_);
  conv_block_->push_back(std::make_shared<nn::ReLU>());
  conv_block_->push_back(conv3_);
  conv_block_->push_back(bn4_);
  conv_block_->push_back(std::make_shared<nn::ReLU>());
  conv_block_->push_back(conv6_);
}

Tensor DetectionHead::forward(const Tensor& x) {
  Tensor y = autocast::input(autocast::Op::Probability, conv_block_->forward(x));
  // The baseline overwrites channels 0..3 in place with their sigmoid; slicing
  // and concatenating gives the same values and gradients.
  return concat({sigmoid(y.slice(1, 0, 4)), y.slice(1, 4, 5)}, 1);
}

void DetectionHead::reset_parameters(Generator& gen) {
  conv0_->reset_parameters(gen);
  bn1_->reset_parameters();
  conv3_->reset_parameters(gen);
  bn4_->reset_parameters();
  conv6_->reset_parameters(gen);
}

int64_t DetectionHead::macs(int64_t h, int64_t w) const {
  return conv0_->macs(h, w) + conv3_->macs(h, w) + conv6_->macs(h, w);
}

}  // namespace sono::model
