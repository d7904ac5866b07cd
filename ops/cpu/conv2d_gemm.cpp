// Dense and grouped convolution as GEMM. Per sample, the input is unfolded
// into columns col[(c, ki, kj), (oh, ow)] (im2col) so that, per group,
// y = W_g @ col_g; a pointwise conv skips the unfolding and multiplies the
// NCHW sample directly. im2col/col2im run in OpenMP regions of their own and
// the GEMMs outside them, where OpenBLAS uses all threads itself.
#include <algorithm>
#include <memory>

#include "ops/cpu/conv2d_paths.h"
#include "ops/cpu/gemm.h"

namespace sono::cpu::conv {

namespace {

// Output columns [lo, hi) of tap column kj whose input column is inside [0, w).
void valid_columns(const Geometry& g, int64_t kj, int64_t& lo, int64_t& hi) {
  const int64_t iw0 = kj * g.dw - g.pl;  // input column of output column 0
  lo = std::max<int64_t>(0, ceil_div(-iw0, g.sw));
  hi = std::min<int64_t>(g.wo, ceil_div(g.w - iw0, g.sw));
  hi = std::max(hi, lo);
}

template <class T>
void im2col(const Geometry& g, const T* x, T* col) {
  const int64_t kk = g.kh * g.kw, hw = g.ho * g.wo;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < g.cin * kk; ++r) {
    const int64_t c = r / kk, ki = r % kk / g.kw, kj = r % g.kw;
    int64_t lo, hi;
    valid_columns(g, kj, lo, hi);
    const int64_t iw0 = kj * g.dw - g.pl;  // may be negative: index, never a pointer, below the row
    const T* xc = x + c * g.h * g.w;
    T* dst = col + r * hw;
    for (int64_t oh = 0; oh < g.ho; ++oh, dst += g.wo) {
      const int64_t ih = oh * g.sh - g.pt + ki * g.dh;
      if (ih < 0 || ih >= g.h) {
        std::fill(dst, dst + g.wo, T(0));
        continue;
      }
      const T* src = xc + ih * g.w;
      std::fill(dst, dst + lo, T(0));
      if (g.sw == 1) {
        std::copy(src + lo + iw0, src + hi + iw0, dst + lo);
      } else {
        for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw + iw0];
      }
      std::fill(dst + hi, dst + g.wo, T(0));
    }
  }
}

// gx = the transpose of im2col applied to col (sums overlapping taps).
template <class T>
void col2im(const Geometry& g, const T* col, T* gx) {
  const int64_t kk = g.kh * g.kw, hw = g.ho * g.wo;
  // One channel per iteration: every gx element has a single writer.
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < g.cin; ++c) {
    T* gxc = gx + c * g.h * g.w;
    std::fill(gxc, gxc + g.h * g.w, T(0));
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        int64_t lo, hi;
        valid_columns(g, kj, lo, hi);
        const T* src = col + (c * kk + ki * g.kw + kj) * hw;
        const int64_t iw0 = kj * g.dw - g.pl;
        for (int64_t oh = 0; oh < g.ho; ++oh, src += g.wo) {
          const int64_t ih = oh * g.sh - g.pt + ki * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          T* dst = gxc + ih * g.w;
          if (g.sw == 1) {
#pragma omp simd
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow + iw0] += src[ow];
          } else {
#pragma omp simd
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw + iw0] += src[ow];
          }
        }
      }
    }
  }
}

// Scratch for one sample's columns, reused across calls of this thread
// (the buffer of a large 3x3 conv is tens of MB; re-faulting it per call costs).
template <class T>
T* column_buffer(int64_t elems) {
  thread_local std::unique_ptr<T[]> buf;
  thread_local int64_t capacity = 0;
  if (elems > capacity) {
    buf.reset();
    buf.reset(new T[size_t(elems)]);
    capacity = elems;
  }
  return buf.get();
}

}  // namespace

template <class T>
void gemm_conv_forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t hw = g.ho * g.wo, kg = g.cin_g() * g.kh * g.kw, mg = g.cout_g();
  const bool pointwise = g.pointwise();
  T* col = pointwise ? nullptr : column_buffer<T>(g.cin * g.kh * g.kw * hw);
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xn = x + n * g.cin * g.h * g.w;
    T* yn = y + n * g.cout * hw;
    if (!pointwise) im2col(g, xn, col);
    const T* b = pointwise ? xn : col;
    // The bias seeds the output and the GEMM accumulates onto it.
    if (bias) {
#pragma omp parallel for if (g.cout * hw > (1 << 16))
      for (int64_t c = 0; c < g.cout; ++c) std::fill(yn + c * hw, yn + (c + 1) * hw, bias[c]);
    }
    for (int64_t grp = 0; grp < g.groups; ++grp)
      gemm<T>(false, false, mg, hw, kg, T(1), w + grp * mg * kg, kg, b + grp * kg * hw, hw, bias ? T(1) : T(0),
              yn + grp * mg * hw, hw);
  }
}

template <class T>
void gemm_conv_backward(const Geometry& g, const T* x, const T* w, const T* gy, T* gx, T* gw) {
  const int64_t hw = g.ho * g.wo, kg = g.cin_g() * g.kh * g.kw, mg = g.cout_g();
  const bool pointwise = g.pointwise();
  T* col = pointwise ? nullptr : column_buffer<T>(g.cin * g.kh * g.kw * hw);
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xn = x + n * g.cin * g.h * g.w;
    const T* gyn = gy + n * g.cout * hw;
    if (gw) {
      // gw_g (+)= gy_g @ col_g^T, summed over the batch.
      if (!pointwise) im2col(g, xn, col);
      const T* b = pointwise ? xn : col;
      for (int64_t grp = 0; grp < g.groups; ++grp)
        gemm<T>(false, true, mg, kg, hw, T(1), gyn + grp * mg * hw, hw, b + grp * kg * hw, hw, n ? T(1) : T(0),
                gw + grp * mg * kg, kg);
    }
    if (gx) {
      // col_g = W_g^T @ gy_g, folded back onto the input grid.
      T* gxn = gx + n * g.cin * g.h * g.w;
      T* dst = pointwise ? gxn : col;
      for (int64_t grp = 0; grp < g.groups; ++grp)
        gemm<T>(true, false, kg, hw, mg, T(1), w + grp * mg * kg, kg, gyn + grp * mg * hw, hw, T(0),
                dst + grp * kg * hw, hw);
      if (!pointwise) col2im(g, col, gxn);
    }
  }
}

#define SONO_INSTANTIATE(T)                                                                   \
  template void gemm_conv_forward<T>(const Geometry&, const T*, const T*, const T*, T*);     \
  template void gemm_conv_backward<T>(const Geometry&, const T*, const T*, const T*, T*, T*);
SONO_INSTANTIATE(float)
SONO_INSTANTIATE(double)
#undef SONO_INSTANTIATE

}  // namespace sono::cpu::conv
