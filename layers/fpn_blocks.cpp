#include "layers/fpn_blocks.h"

#include <algorithm>

#include "core/autocast.h"
#include "layers/basic.h"
#include "layers/norm.h"
#include "ops/binary.h"
#include "ops/upsample.h"

namespace sono::nn {

FPNBlock::FPNBlock(int64_t pyramid_channels, int64_t skip_channels) : Module("FPNBlock") {
  skip_conv_ = register_module("skip_conv", std::make_shared<Conv2d>(skip_channels, pyramid_channels, 1));
}

Tensor FPNBlock::forward(const Tensor& x, const Tensor& skip) {
  Tensor top = upsample_nearest2x(x), lateral = skip_conv_->forward(skip);
  autocast::promote(top, lateral);
  return add(top, lateral);
}

Conv3x3GNReLU::Conv3x3GNReLU(int64_t in_channels, int64_t out_channels, bool upsample, int64_t gn_groups)
    : UnaryModule("Conv3x3GNReLU"), upsample_(upsample) {
  block_ = register_module("block", std::make_shared<Sequential>());
  conv_ = std::make_shared<Conv2d>(in_channels, out_channels, 3, Conv2dOptions::symmetric(1), false);
  block_->push_back(conv_);
  block_->push_back(std::make_shared<GroupNorm>(gn_groups, out_channels));
  block_->push_back(std::make_shared<ReLU>());
}

Tensor Conv3x3GNReLU::forward(const Tensor& x) {
  Tensor y = block_->forward(x);
  return upsample_ ? upsample_bilinear_aligned(y, 2) : y;
}

SegmentationBlock::SegmentationBlock(int64_t in_channels, int64_t out_channels, int64_t n_upsamples, int64_t gn_groups)
    : UnaryModule("SegmentationBlock") {
  SONO_CHECK(n_upsamples >= 0, "SegmentationBlock", "n_upsamples must be >= 0, got ", n_upsamples);
  block_ = register_module("block", std::make_shared<Sequential>());
  const int64_t units = std::max<int64_t>(1, n_upsamples);
  for (int64_t i = 0; i < units; ++i) {
    auto unit =
        std::make_shared<Conv3x3GNReLU>(i == 0 ? in_channels : out_channels, out_channels, n_upsamples > 0, gn_groups);
    block_->push_back(unit);
    units_.push_back(unit);
  }
}

int64_t SegmentationBlock::macs(int64_t h, int64_t w, int64_t* out_h, int64_t* out_w) const {
  int64_t total = 0;
  for (const auto& u : units_) {
    total += u->conv().macs(h, w);
    auto hw = u->conv().output_size(h, w);
    h = hw.first * (u->upsample() ? 2 : 1);
    w = hw.second * (u->upsample() ? 2 : 1);
  }
  if (out_h) *out_h = h;
  if (out_w) *out_w = w;
  return total;
}

}  // namespace sono::nn
