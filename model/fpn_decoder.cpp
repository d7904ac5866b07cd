#include "model/fpn_decoder.h"

#include "core/autograd.h"
#include "layers/init.h"
#include "layers/norm.h"
#include "ops/binary.h"

namespace sono::model {

FpnDecoder::FpnDecoder(const std::array<int64_t, 6>& enc, const FpnDecoderConfig& config)
    : Module("FPNDecoder"), config_(config) {
  const int64_t P = config.pyramid_channels, S = config.segmentation_channels;
  p5_ = register_module("p5", std::make_shared<nn::Conv2d>(enc[5], P, 1));
  p4_ = register_module("p4", std::make_shared<nn::FPNBlock>(P, enc[4]));
  p3_ = register_module("p3", std::make_shared<nn::FPNBlock>(P, enc[3]));
  p2_ = register_module("p2", std::make_shared<nn::FPNBlock>(P, enc[2]));
  seg_blocks_ = register_module("seg_blocks", std::make_shared<nn::ModuleList<nn::SegmentationBlock>>());
  for (int64_t n_upsamples : {3, 2, 1, 0})
    seg_blocks_->push_back(std::make_shared<nn::SegmentationBlock>(P, S, n_upsamples, config.gn_groups));
  dropout_ = register_module("dropout", std::make_shared<nn::Dropout2d>(config.dropout));
}

Tensor FpnDecoder::forward(const std::vector<Tensor>& features) {
  SONO_CHECK(features.size() >= 4, "FPNDecoder", "expected the encoder's features, got ", features.size());
  const size_t n = features.size();
  const Tensor &c2 = features[n - 4], &c3 = features[n - 3], &c4 = features[n - 2], &c5 = features[n - 1];
  Tensor p5 = p5_->forward(c5);
  Tensor p4 = p4_->forward(p5, c4);
  Tensor p3 = p3_->forward(p4, c3);
  Tensor p2 = p2_->forward(p3, c2);
  // SMP stacks the four maps and sums over the new axis; a left-to-right sum
  // in the same order gives the same additions.
  const Tensor levels[4] = {p5, p4, p3, p2};
  Tensor x = (*seg_blocks_)[0].forward(levels[0]);
  for (size_t i = 1; i < 4; ++i) x = add(x, (*seg_blocks_)[i].forward(levels[i]));
  return dropout_->forward(x);
}

void FpnDecoder::reset_parameters(Generator& gen) {
  NoGradGuard ng;
  for (auto& m : named_modules()) {
    if (auto* conv = dynamic_cast<nn::Conv2d*>(m.second)) {
      nn::init::kaiming_uniform_(conv->weight(), nn::init::kReluGain, gen);
      if (conv->bias().defined()) conv->bias().fill_(0.0);
    } else if (auto* gn = dynamic_cast<nn::GroupNorm*>(m.second)) {
      gn->reset_parameters();
    }
  }
}

DecoderMacs FpnDecoder::macs(const std::array<std::pair<int64_t, int64_t>, 6>& fs) const {
  DecoderMacs m;
  m.lateral = p5_->macs(fs[5].first, fs[5].second) + p4_->skip_conv().macs(fs[4].first, fs[4].second) +
              p3_->skip_conv().macs(fs[3].first, fs[3].second) + p2_->skip_conv().macs(fs[2].first, fs[2].second);
  // pyramid level i has the size of encoder feature 5 - i
  for (size_t i = 0; i < 4; ++i)
    m.seg3x3 += (*seg_blocks_)[i].macs(fs[5 - i].first, fs[5 - i].second, &m.out_h, &m.out_w);
  return m;
}

}  // namespace sono::model
