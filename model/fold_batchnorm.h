#pragma once
// BatchNorm folding for inference: an eval-mode BatchNorm2d after a
// convolution is an affine map per output channel, so it can be merged into
// that convolution's weight and a bias:
//   s = gamma / sqrt(running_var + eps)
//   W'[o] = W[o] * s[o],   b'[o] = (b[o] - running_mean[o]) * s[o] + beta[o]   (b = 0 without a bias)
// The ONNX export (export/) emits every Conv2d + BatchNorm2d pair this way.
#include "layers/conv.h"
#include "layers/norm.h"

namespace sono::model {

// The weight and bias of the convolution that computes bn(conv(x)) with bn in
// eval mode (its running statistics). Computed in float64 from the module
// values, returned on the CPU in the conv weight's dtype (contiguous, no grad).
struct FoldedConv {
  Tensor weight;  // [out, in/groups, k, k]
  Tensor bias;    // [out]
};

// Throws naming both modules when bn's width is not conv's output width.
FoldedConv fold_batchnorm(const nn::Conv2d& conv, const nn::BatchNorm2d& bn);

}  // namespace sono::model
