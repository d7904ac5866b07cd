#pragma once
#include "layers/module.h"
#include "ops/conv2d.h"

namespace sono::nn {

// Zero padding per side (TF-"same" padding is asymmetric: left/top get the
// smaller half).
struct Padding2d {
  int64_t left = 0, right = 0, top = 0, bottom = 0;
  bool operator==(const Padding2d& o) const {
    return left == o.left && right == o.right && top == o.top && bottom == o.bottom;
  }
};

Conv2dOptions conv_options(int64_t stride, const Padding2d& pad, int64_t groups = 1);

// nn.Conv2d with explicit per-side zero padding (so TF-"same" static padding
// is a constructor argument). Parameters: weight [out, in/groups, k, k], bias [out].
class Conv2d : public UnaryModule {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, const Conv2dOptions& options = {},
         bool bias = true);

  Tensor forward(const Tensor& x) override;
  // PyTorch's default init (kaiming_uniform a=sqrt(5), bias U(+-1/sqrt(fan_in))).
  void reset_parameters(Generator& gen);

  // Output spatial size for an input of h x w.
  std::pair<int64_t, int64_t> output_size(int64_t h, int64_t w) const;
  // Multiply-accumulates of one sample at input h x w: out * (in/groups) * k*k * Hout*Wout.
  int64_t macs(int64_t h, int64_t w) const;

  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  int64_t kernel_size() const { return kernel_size_; }
  const Conv2dOptions& options() const { return options_; }
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias

  // Replaces the weight's values and sets the bias (a folded BatchNorm,
  // model/fold_batchnorm.h). A conv built without bias gets one that is not
  // registered: the state dict keeps its keys, so a folded model is for
  // inference only and is never saved.
  void load_folded(const Tensor& weight, const Tensor& bias);

 private:
  int64_t in_channels_, out_channels_, kernel_size_;
  Conv2dOptions options_;
  Tensor weight_, bias_;
};

}  // namespace sono::nn
