#pragma once
// The geometry of one conv2d call, shared by the CPU (ops/cpu/conv2d_paths.h)
// and CUDA (ops/cuda/conv2d_paths.h) backends: sizes from the tensors, the
// rest from Conv2dOptions.
#include <cstdint>

#include "core/tensor.h"
#include "ops/conv2d.h"

namespace sono::conv {

struct Geometry {
  int64_t n, cin, h, w;    // input
  int64_t cout, kh, kw;    // weight [cout, cin / groups, kh, kw]
  int64_t ho, wo;          // output
  int64_t sh, sw;          // stride
  int64_t pt, pb, pl, pr;  // padding: top, bottom, left, right
  int64_t dh, dw;          // dilation
  int64_t groups;

  int64_t cin_g() const { return cin / groups; }
  int64_t cout_g() const { return cout / groups; }
  bool depthwise() const { return groups == cin && groups == cout; }
  bool symmetric_padding() const { return pt == pb && pl == pr; }
  // A 1x1 stride-1 unpadded conv reads the NCHW input itself as the GEMM operand.
  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && ho == h && wo == w;
  }
};

// x_or_gx: the input or its gradient [N, Cin, H, W] (the backward may lack x);
// out: the shape of y or gy [N, Cout, Hout, Wout].
inline Geometry geometry(const Tensor& x_or_gx, const Tensor& weight, const Shape& out, const Conv2dOptions& o) {
  return {x_or_gx.size(0), x_or_gx.size(1), x_or_gx.size(2), x_or_gx.size(3), weight.size(0), weight.size(2),
          weight.size(3),  out[2],          out[3],          o.stride_h,      o.stride_w,     o.pad_top,
          o.pad_bottom,    o.pad_left,      o.pad_right,     o.dilation_h,    o.dilation_w,   o.groups};
}

}  // namespace sono::conv
