#pragma once
// Parameter-free modules that keep PyTorch's positional names in Sequentials
// (e.g. SMP's ClassificationHead: 0 pool, 1 flatten, 2 dropout, 3 linear, 4 activation).
#include "layers/module.h"

namespace sono::nn {

class ReLU : public UnaryModule {
 public:
  ReLU() : UnaryModule("ReLU") {}
  Tensor forward(const Tensor& x) override;
};

class SiLU : public UnaryModule {
 public:
  SiLU() : UnaryModule("SiLU") {}
  Tensor forward(const Tensor& x) override;
};

class Identity : public UnaryModule {
 public:
  Identity() : UnaryModule("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }
};

// [N, C, H, W] -> [N, C*H*W] (nn.Flatten(1)).
class Flatten : public UnaryModule {
 public:
  Flatten() : UnaryModule("Flatten") {}
  Tensor forward(const Tensor& x) override { return x.flatten(1); }
};

// nn.AdaptiveAvgPool2d(1): [N, C, H, W] -> [N, C, 1, 1].
class GlobalAvgPool2d : public UnaryModule {
 public:
  GlobalAvgPool2d() : UnaryModule("AdaptiveAvgPool2d") {}
  Tensor forward(const Tensor& x) override;
};

// Bilinear resize by an integer factor, align_corners=True
// (nn.UpsamplingBilinear2d and SMP's decoder upsampling).
class UpsamplingBilinear2d : public UnaryModule {
 public:
  explicit UpsamplingBilinear2d(int64_t scale) : UnaryModule("UpsamplingBilinear2d"), scale_(scale) {}
  Tensor forward(const Tensor& x) override;
  int64_t scale() const { return scale_; }

 private:
  int64_t scale_;
};

// Bilinear x`scale` with align_corners=True (output size = input size * scale).
Tensor upsample_bilinear_aligned(const Tensor& x, int64_t scale);

}  // namespace sono::nn
