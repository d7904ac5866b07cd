#pragma once
// Private to the CUDA conv2d: the geometry of one call and the two paths
// ops/cuda/conv2d.cu picks from (hand-written depthwise kernels, cuDNN).
#include <cstdint>

#include "core/tensor.h"
#include "ops/conv2d.h"

namespace sono::cuda::conv {

struct Geometry {
  int64_t n, cin, h, w;  // input
  int64_t cout, kh, kw;  // weight [cout, cin / groups, kh, kw]
  int64_t ho, wo;        // output
  int64_t sh, sw, pt, pb, pl, pr, dh, dw;
  int64_t groups;

  bool depthwise() const { return groups == cin && groups == cout; }
  bool symmetric_padding() const { return pt == pb && pl == pr; }
};

Geometry geometry(const Tensor& x_or_gx, const Tensor& weight, const Shape& out, const Conv2dOptions& opt);

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
