#pragma once
// EfficientNet B0..B7 as lukemelas' EfficientNet-PyTorch (and SMP's vendored
// copy) define them, expanded into one MBConvConfig per block.
#include <array>
#include <string>
#include <vector>

#include "layers/mbconv.h"

namespace sono::model {

// One stage of the B0 baseline network (lukemelas' block strings
// "r1_k3_s11_e1_i32_o16_se0.25", ...), before width/depth scaling.
struct StageArgs {
  int64_t num_repeat, kernel_size, stride, expand_ratio, input_filters, output_filters;
  double se_ratio;
};

struct EfficientNetConfig {
  std::string name;          // "efficientnet-b4"
  double width = 1.0;        // channel multiplier
  double depth = 1.0;        // repeat multiplier
  int64_t image_size = 224;  // default resolution: fixes the static "same" padding
  double dropout = 0.2;      // classifier dropout (the classifier is not built here)
  double drop_connect_rate = 0.2;
  int64_t depth_divisor = 8;
  double bn_eps = 1e-3;
  double bn_momentum = 1.0 - 0.99;  // PyTorch convention; lukemelas stores 0.99 (TF)
  int64_t in_channels = 3;
  std::vector<StageArgs> stages;
  // SMP's feature taps: features 2..5 are the outputs of blocks stage_idxs[i] - 1.
  std::array<int64_t, 4> stage_idxs{};
};

// "efficientnet-b0" .. "efficientnet-b7"; throws listing the known names.
EfficientNetConfig efficientnet_config(const std::string& name);

// max(divisor, int(c*width + divisor/2) // divisor * divisor), + divisor if below 0.9*c*width.
int64_t round_filters(int64_t channels, const EfficientNetConfig& config);
// ceil(depth * repeats).
int64_t round_repeats(int64_t repeats, const EfficientNetConfig& config);

// TF-"same" padding fixed for an input of image_size (lukemelas'
// Conv2dStaticSamePadding): total = max((ceil(i/s)-1)*s + k - i, 0),
// left/top = total/2, right/bottom = the rest.
nn::Padding2d static_same_padding(int64_t image_size, int64_t kernel_size, int64_t stride);

// The network with every block's configuration resolved.
struct EfficientNetPlan {
  int64_t stem_channels = 0;
  nn::Padding2d stem_padding;
  std::vector<nn::MBConvConfig> blocks;
  std::vector<int64_t> block_stage;         // stage index (0-based) of each block
  int64_t head_channels = 0;                // _conv_head output (1x1, never run)
  std::array<int64_t, 4> feature_blocks{};  // blocks whose outputs are features 2..5
  std::array<int64_t, 6> out_channels{};    // channels of the 6 features
};

EfficientNetPlan plan_efficientnet(const EfficientNetConfig& config);

}  // namespace sono::model
