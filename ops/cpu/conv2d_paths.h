#pragma once
// Private to the CPU conv2d: the geometry of one call and the two code paths
// (direct depthwise kernel, im2col/1x1 + GEMM) that ops/cpu/conv2d.cpp picks from.
#include <cstdint>

namespace sono::cpu::conv {

struct Geometry {
  int64_t n, cin, h, w;  // input
  int64_t cout, kh, kw;  // weight [cout, cin / groups, kh, kw]
  int64_t ho, wo;        // output
  int64_t sh, sw, pt, pl, dh, dw;
  int64_t groups;

  int64_t cin_g() const { return cin / groups; }
  int64_t cout_g() const { return cout / groups; }
  bool depthwise() const { return groups == cin && groups == cout; }
  // A 1x1 stride-1 unpadded conv reads the NCHW input itself as the GEMM operand.
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && ho == h && wo == w; }
};

// a / b rounded up, for any sign of a and b > 0.
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Direct kernels for groups == cin == cout; bias may be null.
template <class T> void depthwise_forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y);
template <class T> void depthwise_backward_input(const Geometry& g, const T* gy, const T* w, T* gx);
template <class T> void depthwise_backward_weight(const Geometry& g, const T* x, const T* gy, T* gw);

// Everything else: per sample and group, a GEMM against im2col columns (or the
// input itself when pointwise). gx or gw may be null when not needed.
template <class T> void gemm_conv_forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y);
template <class T> void gemm_conv_backward(const Geometry& g, const T* x, const T* w, const T* gy, T* gx, T* gw);

}  // namespace sono::cpu::conv
