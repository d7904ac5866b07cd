#pragma once
#include "layers/conv.h"

namespace sono::nn {

// Squeeze-and-excitation as EfficientNet (lukemelas) computes it:
// x * sigmoid(expand(silu(reduce(mean_hw(x))))), reduce/expand 1x1 convs with bias.
Tensor squeeze_excite(const Tensor& x, Conv2d& reduce, Conv2d& expand);

// The same as a standalone module with children _se_reduce and _se_expand.
// (MBConvBlock registers its two convs directly, as lukemelas does, and calls
// squeeze_excite; this module is for uses outside the block.)
class SqueezeExcite : public UnaryModule {
 public:
  SqueezeExcite(int64_t channels, int64_t squeeze_channels);
  Tensor forward(const Tensor& x) override { return squeeze_excite(x, *reduce_, *expand_); }
  Conv2d& se_reduce() const { return *reduce_; }
  Conv2d& se_expand() const { return *expand_; }

 private:
  std::shared_ptr<Conv2d> reduce_, expand_;
};

}  // namespace sono::nn
