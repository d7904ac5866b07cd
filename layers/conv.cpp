#include "layers/conv.h"

#include "core/autocast.h"
#include "layers/init.h"

namespace sono::nn {

Conv2dOptions conv_options(int64_t stride, const Padding2d& pad, int64_t groups) {
  Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  o.pad_left = pad.left;
  o.pad_right = pad.right;
  o.pad_top = pad.top;
  o.pad_bottom = pad.bottom;
  o.groups = groups;
  return o;
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, const Conv2dOptions& options, bool bias)
    : UnaryModule("Conv2d"),
      in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(kernel_size),
      options_(options) {
  SONO_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0 && options.groups > 0 &&
                 in_channels % options.groups == 0 && out_channels % options.groups == 0,
             "Conv2d", "invalid configuration in ", in_channels, " out ", out_channels, " kernel ", kernel_size,
             " groups ", options.groups);
  weight_ = register_parameter("weight",
                               Tensor::zeros({out_channels, in_channels / options.groups, kernel_size, kernel_size}));
  if (bias) bias_ = register_parameter("bias", Tensor::zeros({out_channels}));
}

Tensor Conv2d::forward(const Tensor& x) {
  if (!autocast::enabled()) return conv2d(x, weight_, bias_, options_);
  const auto op =
      options_.groups > 1 && options_.groups == in_channels_ ? autocast::Op::DepthwiseConv2d : autocast::Op::Conv2d;
  return conv2d(autocast::input(op, x), autocast::param(op, weight_), autocast::param(op, bias_), options_);
}

void Conv2d::reset_parameters(Generator& gen) { init::default_conv_linear_(weight_, bias_, gen); }

std::pair<int64_t, int64_t> Conv2d::output_size(int64_t h, int64_t w) const {
  const auto& o = options_;
  auto out = [&](int64_t in, int64_t pad, int64_t dil, int64_t stride) {
    return (in + pad - dil * (kernel_size_ - 1) - 1) / stride + 1;
  };
  return {out(h, o.pad_top + o.pad_bottom, o.dilation_h, o.stride_h),
          out(w, o.pad_left + o.pad_right, o.dilation_w, o.stride_w)};
}

int64_t Conv2d::macs(int64_t h, int64_t w) const {
  auto hw = output_size(h, w);
  return out_channels_ * (in_channels_ / options_.groups) * kernel_size_ * kernel_size_ * hw.first * hw.second;
}

void Conv2d::load_folded(const Tensor& weight, const Tensor& bias) {
  SONO_CHECK(weight.shape() == weight_.shape() && bias.shape() == Shape{out_channels_}, "Conv2d", "'", name(),
             "': folded weight ", describe(weight), " and bias ", describe(bias), " do not fit weight ",
             describe(weight_));
  // Through detached handles: the same storage, no graph, whatever the grad mode.
  weight_.detach().copy_(weight);
  if (bias_.defined()) {
    bias_.detach().copy_(bias);
  } else {
    bias_ = bias.to(weight_.device()).to(weight_.dtype()).contiguous();
  }
}

}  // namespace sono::nn
