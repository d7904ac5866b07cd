#pragma once
// SMP 0.5.0 FPNDecoder (merge 'add', nearest top-down, Dropout2d at the end).
// Children: p5, p4, p3, p2 (FPNBlock.skip_conv), seg_blocks.<0..3>, dropout.
#include <array>
#include <vector>

#include "layers/conv.h"
#include "layers/dropout.h"
#include "layers/fpn_blocks.h"

namespace sono::model {

struct FpnDecoderConfig {
  int64_t pyramid_channels = 256;
  int64_t segmentation_channels = 128;
  double dropout = 0.2;
  int64_t gn_groups = 32;
};

struct DecoderMacs {
  int64_t lateral = 0;  // p5 and the three skip 1x1 convs
  int64_t seg3x3 = 0;   // the 3x3 convs of the segmentation blocks
  int64_t total() const { return lateral + seg3x3; }
  int64_t out_h = 0, out_w = 0;
};

class FpnDecoder : public nn::Module {
 public:
  // encoder_channels: the encoder's 6 feature widths; only the last 4 are used.
  FpnDecoder(const std::array<int64_t, 6>& encoder_channels, const FpnDecoderConfig& config = {});

  // features: the encoder's 6 maps (features 0 and 1 are ignored).
  Tensor forward(const std::vector<Tensor>& features);
  // SMP initialize_decoder: convs kaiming-uniform (fan_in, ReLU gain), bias 0; GroupNorm 1/0.
  void reset_parameters(Generator& gen);
  // feature_sizes: (h, w) of the 6 encoder features.
  DecoderMacs macs(const std::array<std::pair<int64_t, int64_t>, 6>& feature_sizes) const;

  const FpnDecoderConfig& config() const { return config_; }
  int64_t out_channels() const { return config_.segmentation_channels; }
  nn::Conv2d& p5() const { return *p5_; }
  nn::FPNBlock& p4() const { return *p4_; }
  nn::FPNBlock& p3() const { return *p3_; }
  nn::FPNBlock& p2() const { return *p2_; }
  const nn::ModuleList<nn::SegmentationBlock>& seg_blocks() const { return *seg_blocks_; }
  nn::Dropout2d& dropout() const { return *dropout_; }

 private:
  FpnDecoderConfig config_;
  std::shared_ptr<nn::Conv2d> p5_;
  std::shared_ptr<nn::FPNBlock> p4_, p3_, p2_;
  std::shared_ptr<nn::ModuleList<nn::SegmentationBlock>> seg_blocks_;
  std::shared_ptr<nn::Dropout2d> dropout_;
};

}  // namespace sono::model
