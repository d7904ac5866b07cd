#pragma once
// Private to the CPU conv2d: the code paths (direct depthwise kernel,
// im2col/1x1 + GEMM, Winograd for f32 3x3) that ops/cpu/conv2d.cpp picks from, over the geometry
// shared with the CUDA backend (ops/conv2d_geometry.h).
#include <cstdint>

#include "ops/conv2d_geometry.h"

namespace sono::cpu::conv {

using ::sono::conv::Geometry;
using ::sono::conv::geometry;

// a / b rounded up, for any sign of a and b > 0.
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Direct kernels for groups == cin == cout; bias may be null.
template <class T>
void depthwise_forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y);
// The input gradient of a strided conv: the scatter, or (dilation 1 only)
// the per-phase gather; Auto takes the gather where depthwise_gather_fits.
enum class StridedInputGrad { Auto, Scatter, Gather };
bool depthwise_gather_fits(const Geometry& g);
template <class T>
void depthwise_backward_input(const Geometry& g, const T* gy, const T* w, T* gx,
                              StridedInputGrad path = StridedInputGrad::Auto);
template <class T>
void depthwise_backward_weight(const Geometry& g, const T* x, const T* gy, T* gw);

// Everything else: per sample and group, a GEMM against im2col columns (or the
// input itself when pointwise). gx or gw may be null when not needed.
template <class T>
void gemm_conv_forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y);
template <class T>
void gemm_conv_backward(const Geometry& g, const T* x, const T* w, const T* gy, T* gx, T* gw);

// Winograd F(4x4, 3x3), f32 only (ops/cpu/conv2d_winograd.cpp): forward and
// input gradient of a dense stride-1 undilated 3x3 conv where
// winograd_applies(g, backward): winograd_enabled (on unless
// SONO_CPU_WINOGRAD=0, read once) and winograd_fits (the shapes where it measured faster than im2col,
// for the forward or for the backward).
bool winograd_enabled();
bool winograd_fits(const Geometry& g, bool backward);
bool winograd_applies(const Geometry& g, bool backward);
void winograd_forward(const Geometry& g, const float* x, const float* w, const float* bias, float* y);
void winograd_backward_input(const Geometry& g, const float* w, const float* gy, float* gx);
void winograd_backward_weight(const Geometry& g, const float* x, const float* gy, float* gw);

}  // namespace sono::cpu::conv
