#pragma once
// Building blocks of SMP's FPN decoder, with SMP's child names:
// FPNBlock.skip_conv, SegmentationBlock.block.<i>.block.{0 conv, 1 GroupNorm, 2 ReLU}.
#include "layers/conv.h"
#include "layers/module.h"

namespace sono::nn {

// Top-down step: nearest x2 of the coarser level + 1x1 lateral conv (bias) of the skip.
class FPNBlock : public Module {
 public:
  FPNBlock(int64_t pyramid_channels, int64_t skip_channels);
  Tensor forward(const Tensor& x, const Tensor& skip);
  Conv2d& skip_conv() const { return *skip_conv_; }

 private:
  std::shared_ptr<Conv2d> skip_conv_;
};

// conv3x3 (pad 1, no bias) -> GroupNorm(32) -> ReLU [-> bilinear x2, align_corners=True].
class Conv3x3GNReLU : public UnaryModule {
 public:
  Conv3x3GNReLU(int64_t in_channels, int64_t out_channels, bool upsample, int64_t gn_groups = 32);
  Tensor forward(const Tensor& x) override;
  Conv2d& conv() const { return *conv_; }
  bool upsample() const { return upsample_; }

 private:
  bool upsample_;
  std::shared_ptr<Conv2d> conv_;
  std::shared_ptr<Sequential> block_;
};

// max(1, n_upsamples) Conv3x3GNReLU units; all but the n == 0 case upsample.
class SegmentationBlock : public UnaryModule {
 public:
  SegmentationBlock(int64_t in_channels, int64_t out_channels, int64_t n_upsamples, int64_t gn_groups = 32);
  Tensor forward(const Tensor& x) override { return block_->forward(x); }
  // Conv MACs of one sample at input h x w; out_h/out_w receive the output size.
  int64_t macs(int64_t h, int64_t w, int64_t* out_h = nullptr, int64_t* out_w = nullptr) const;

 private:
  std::shared_ptr<Sequential> block_;
  std::vector<std::shared_ptr<Conv3x3GNReLU>> units_;
};

}  // namespace sono::nn
