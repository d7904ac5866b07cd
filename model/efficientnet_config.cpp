#include "model/efficientnet_config.h"

#include <cmath>

namespace sono::model {

namespace {
// lukemelas' B0 block strings.
const std::vector<StageArgs> kB0Stages = {
    {1, 3, 1, 1, 32, 16, 0.25},  {2, 3, 2, 6, 16, 24, 0.25},   {2, 5, 2, 6, 24, 40, 0.25},   {3, 3, 2, 6, 40, 80, 0.25},
    {3, 5, 1, 6, 80, 112, 0.25}, {4, 5, 2, 6, 112, 192, 0.25}, {1, 3, 1, 6, 192, 320, 0.25},
};

struct Coefficients {
  const char* name;
  double width, depth;
  int64_t resolution;
  double dropout;
  std::array<int64_t, 4> stage_idxs;
};

// Width, depth, resolution, dropout: lukemelas' efficientnet_params. Stage
// indexes: SMP's efficient_net_encoders table. They are the block counts at
// the end of stages 2, 3, 5 and 7 except for B0, where SMP taps block 8 (the
// first block of stage 5, 112 channels) instead of the end of stage 5 (11).
const Coefficients kCoefficients[] = {
    {"efficientnet-b0", 1.0, 1.0, 224, 0.2, {3, 5, 9, 16}},   {"efficientnet-b1", 1.0, 1.1, 240, 0.2, {5, 8, 16, 23}},
    {"efficientnet-b2", 1.1, 1.2, 260, 0.3, {5, 8, 16, 23}},  {"efficientnet-b3", 1.2, 1.4, 300, 0.3, {5, 8, 18, 26}},
    {"efficientnet-b4", 1.4, 1.8, 380, 0.4, {6, 10, 22, 32}}, {"efficientnet-b5", 1.6, 2.2, 456, 0.4, {8, 13, 27, 39}},
    {"efficientnet-b6", 1.8, 2.6, 528, 0.5, {9, 15, 31, 45}}, {"efficientnet-b7", 2.0, 3.1, 600, 0.5, {11, 18, 38, 55}},
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace

EfficientNetConfig efficientnet_config(const std::string& name) {
  for (const auto& c : kCoefficients) {
    if (name != c.name) continue;
    EfficientNetConfig cfg;
    cfg.name = c.name;
    cfg.width = c.width;
    cfg.depth = c.depth;
    cfg.image_size = c.resolution;
    cfg.dropout = c.dropout;
    cfg.stages = kB0Stages;
    cfg.stage_idxs = c.stage_idxs;
    return cfg;
  }
  throw Error("efficientnet_config: unknown model '" + name + "' (expected efficientnet-b0 .. efficientnet-b7)");
}

int64_t round_filters(int64_t channels, const EfficientNetConfig& config) {
  const double filters = double(channels) * config.width;
  const int64_t divisor = config.depth_divisor;
  int64_t rounded = std::max<int64_t>(divisor, int64_t(filters + double(divisor) / 2.0) / divisor * divisor);
  if (double(rounded) < 0.9 * filters) rounded += divisor;
  return rounded;
}

int64_t round_repeats(int64_t repeats, const EfficientNetConfig& config) {
  return int64_t(std::ceil(config.depth * double(repeats)));
}

nn::Padding2d static_same_padding(int64_t image_size, int64_t kernel_size, int64_t stride) {
  const int64_t out = ceil_div(image_size, stride);
  const int64_t total = std::max<int64_t>((out - 1) * stride + kernel_size - image_size, 0);
  return {total / 2, total - total / 2, total / 2, total - total / 2};
}

EfficientNetPlan plan_efficientnet(const EfficientNetConfig& config) {
  SONO_CHECK(!config.stages.empty() && config.image_size > 0, "plan_efficientnet", "config '", config.name,
             "' has no stages or no image size");
  EfficientNetPlan plan;
  int64_t size = config.image_size;  // tracked as lukemelas does: ceil(size / stride)
  plan.stem_channels = round_filters(32, config);
  plan.stem_padding = static_same_padding(size, 3, 2);
  size = ceil_div(size, 2);

  int64_t total_blocks = 0;
  for (const auto& s : config.stages) total_blocks += round_repeats(s.num_repeat, config);
  for (size_t stage = 0; stage < config.stages.size(); ++stage) {
    const StageArgs& s = config.stages[stage];
    const int64_t in = round_filters(s.input_filters, config);
    const int64_t out = round_filters(s.output_filters, config);
    const int64_t repeats = round_repeats(s.num_repeat, config);
    for (int64_t r = 0; r < repeats; ++r) {
      nn::MBConvConfig b;
      b.in_channels = r == 0 ? in : out;
      b.out_channels = out;
      b.expand_ratio = s.expand_ratio;
      b.kernel_size = s.kernel_size;
      b.stride = r == 0 ? s.stride : 1;
      b.se_ratio = s.se_ratio;
      b.depthwise_padding = static_same_padding(size, b.kernel_size, b.stride);
      b.bn_eps = config.bn_eps;
      b.bn_momentum = config.bn_momentum;
      // lukemelas scales the rate by idx / len(blocks) in forward.
      b.drop_connect = config.drop_connect_rate * double(plan.blocks.size()) / double(total_blocks);
      size = ceil_div(size, b.stride);
      plan.blocks.push_back(b);
      plan.block_stage.push_back(int64_t(stage));
    }
  }
  plan.head_channels = round_filters(1280, config);
  plan.out_channels[0] = config.in_channels;
  plan.out_channels[1] = plan.stem_channels;
  for (size_t i = 0; i < 4; ++i) {
    const int64_t idx = config.stage_idxs[i];
    SONO_CHECK(idx >= 1 && idx <= int64_t(plan.blocks.size()), "plan_efficientnet", "feature tap ", idx,
               " outside the ", plan.blocks.size(), " blocks of '", config.name, "'");
    plan.feature_blocks[i] = idx - 1;
    plan.out_channels[i + 2] = plan.blocks[size_t(idx - 1)].out_channels;
  }
  return plan;
}

}  // namespace sono::model
