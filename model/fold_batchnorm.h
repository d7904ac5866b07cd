#pragma once
// BatchNorm folding for inference: an eval-mode BatchNorm2d after a
// convolution is an affine map per output channel, so it can be merged into
// that convolution's weight and a bias:
//   s = gamma / sqrt(running_var + eps)
//   W'[o] = W[o] * s[o],   b'[o] = (b[o] - running_mean[o]) * s[o] + beta[o]   (b = 0 without a bias)
// The ONNX export (export/) emits every Conv2d + BatchNorm2d pair this way.
#include <memory>

#include "layers/conv.h"
#include "layers/norm.h"
#include "model/multitask_model.h"

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

// Folds bn into conv in place: conv gets the folded weight and bias, bn
// becomes the identity (nn::BatchNorm2d::mark_folded).
void fold_batchnorm_into(nn::Conv2d& conv, nn::BatchNorm2d& bn);

// An inference copy of `model` (same config, device and values; `model` is
// untouched) in eval mode with every Conv2d + BatchNorm2d pair folded (the
// encoder's stem, head and MBConv blocks, the detection heads), its
// parameters not requiring grad so no op records a graph. Not for training
// and never to be saved (its state dict still holds the BatchNorm statistics
// it no longer applies).
std::shared_ptr<MultiTaskModel> folded_inference_copy(const MultiTaskModel& model);

}  // namespace sono::model
