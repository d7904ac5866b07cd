#pragma once
// Private to the CUDA conv2d: the two paths ops/cuda/conv2d.cu picks from
// (hand-written depthwise kernels, cuDNN), over the geometry shared with the
// CPU backend (ops/conv2d_geometry.h).
#include <cstdint>

#include "core/tensor.h"
#include "ops/conv2d_geometry.h"

namespace sono::cuda::conv {

using ::sono::conv::Geometry;
using ::sono::conv::geometry;

// The depthwise kernels handle filters of up to 7x7 (the gradient keeps one
// accumulator per tap) and up to 65535 channels (a grid dimension); other
// depthwise convolutions go through cuDNN.
constexpr int64_t kDepthwiseMaxSide = 7;
constexpr int64_t kDepthwiseMaxTaps = kDepthwiseMaxSide * kDepthwiseMaxSide;
inline bool use_depthwise_kernels(const Geometry& g) {
  return g.depthwise() && g.kh <= kDepthwiseMaxSide && g.kw <= kDepthwiseMaxSide && g.cin <= 65535;
}

// Hand-written depthwise convolution (ops/cuda/conv2d_depthwise.cu); bias may
// be undefined. Every output is overwritten.
void depthwise_forward(const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y);
void depthwise_backward_input(const Geometry& g, const Tensor& gy, const Tensor& w, const Tensor& gx);
void depthwise_backward_weight(const Geometry& g, const Tensor& x, const Tensor& gy, const Tensor& gw);

// cuDNN convolution (ops/cuda/conv2d_cudnn.cu); bias may be undefined; gx or
// gw may be undefined (skipped). Every output is overwritten.
void cudnn_forward(const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y);
void cudnn_backward(const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx,
                    const Tensor& gw);

}  // namespace sono::cuda::conv
