// Dense and grouped convolution as GEMM. The input is unfolded into columns
// col[(c, ki, kj), (oh, ow)] (im2col) so that, per group, y = W_g @ col_g; a
// pointwise conv skips the unfolding and multiplies the NCHW sample directly.
// The unfolding runs over chunks of output rows sized to stay in cache, so
// the kh*kw-times larger column matrix never travels to memory.
// im2col/col2im run in OpenMP regions of their own and the GEMMs outside
// them, where OpenBLAS uses all threads itself.
// Outputs: all overwritten. y: the bias seeds it and the GEMM accumulates onto
// it; gw: the GEMMs of every sample and row chunk add up (beta 0 for the first,
// 1 after); gx: zero-filled, then col2im adds every column back into it.
#include <algorithm>
#include <memory>

#include "core/parallel.h"
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

// Copies below this many elements stay on one thread.
constexpr int64_t kParallelCopy = 1 << 16;

// Columns of output rows [oh0, oh1) only: col [(c, ki, kj), (oh - oh0, ow)].
template <class T>
void im2col(const Geometry& g, const T* x, int64_t oh0, int64_t oh1, T* col) {
  const int64_t kk = g.kh * g.kw, cols = (oh1 - oh0) * g.wo;
  parallel_for(g.cin * kk, g.cin * kk * cols >= kParallelCopy, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / kk, ki = r % kk / g.kw, kj = r % g.kw;
      int64_t lo, hi;
      valid_columns(g, kj, lo, hi);
      const int64_t iw0 = kj * g.dw - g.pl;  // may be negative: index, never a pointer, below the row
      const T* xc = x + c * g.h * g.w;
      T* dst = col + r * cols;
      for (int64_t oh = oh0; oh < oh1; ++oh, dst += g.wo) {
        const int64_t ih = oh * g.sh - g.pt + ki * g.dh;
        if (ih < 0 || ih >= g.h) {
          std::fill(dst, dst + g.wo, T(0));
          continue;
        }
        const T* src = xc + ih * g.w;
        std::fill(dst, dst + lo, T(0));
        if (g.sw == 1) {
          std::copy(src + lo + iw0, src + hi + iw0, dst + lo);
        } else if (g.sw == 2) {
          // A constant stride vectorizes as interleaved loads (the stem; the
          // runtime-stride loop below stays scalar).
#pragma omp simd
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * 2 + iw0];
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw + iw0];
        }
        std::fill(dst + hi, dst + g.wo, T(0));
      }
    }
  });
}

// gx += the transpose of im2col for output rows [oh0, oh1) (sums overlapping taps).
template <class T>
void col2im_add(const Geometry& g, const T* col, int64_t oh0, int64_t oh1, T* gx) {
  const int64_t kk = g.kh * g.kw, cols = (oh1 - oh0) * g.wo;
  // One channel per iteration: every gx element has a single writer.
  parallel_for(g.cin, g.cin * kk * cols >= kParallelCopy, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T* gxc = gx + c * g.h * g.w;
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          int64_t lo, hi;
          valid_columns(g, kj, lo, hi);
          const T* src = col + (c * kk + ki * g.kw + kj) * cols;
          const int64_t iw0 = kj * g.dw - g.pl;
          for (int64_t oh = oh0; oh < oh1; ++oh, src += g.wo) {
            const int64_t ih = oh * g.sh - g.pt + ki * g.dh;
            if (ih < 0 || ih >= g.h) continue;
            T* dst = gxc + ih * g.w;
            if (g.sw == 1) {
#pragma omp simd
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow + iw0] += src[ow];
            } else if (g.sw == 2) {
#pragma omp simd
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow * 2 + iw0] += src[ow];
            } else {
#pragma omp simd
              for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw + iw0] += src[ow];
            }
          }
        }
      }
    }
  });
}

// Output rows per im2col chunk: the chunk's columns stay within kChunkBytes
// (cache-resident between the unfolding and the GEMM). A pointwise conv
// needs no columns and takes the whole sample at once.
constexpr int64_t kChunkBytes = int64_t(4) << 20;

// With a short GEMM depth (the stem: K = 27) the GEMM is bound by its output's
// traffic (OpenBLAS zeroes C for beta 0, then accumulates into it), so there
// the chunk is also cut to keep the output block within kOutChunkBytes (L2):
// at one thread the stem's forward 1.2x and its backward 1.3x faster (docs/benchmarks.md).
// The forward's chunks are shared by the threads; the backward's run one
// after another (its weight-gradient sum has a fixed order), and there, at two
// threads, GEMMs that small lost up to 10% to the full-size chunks, so only
// the forward cuts them (`out_block`).
constexpr int64_t kShortDepth = 64;
constexpr int64_t kOutChunkBytes = int64_t(128) << 10;

bool short_depth(const Geometry& g) { return !g.pointwise() && g.cin_g() * g.kh * g.kw < kShortDepth; }

template <class T>
int64_t chunk_rows(const Geometry& g, bool out_block) {
  if (g.pointwise()) return g.ho;
  const int64_t row_bytes = g.cin * g.kh * g.kw * g.wo * int64_t(sizeof(T));
  int64_t rows = kChunkBytes / row_bytes;
  if (out_block && short_depth(g)) rows = std::min(rows, kOutChunkBytes / (g.cout * g.wo * int64_t(sizeof(T))));
  return std::clamp<int64_t>(rows, 1, g.ho);
}

// Scratch for one chunk of columns, kept by this thread across calls so a
// conv costs no allocation or page faults for it.
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

// The GEMM operand of output rows [oh0, oh1): [cin*kh*kw, (oh1 - oh0)*wo]
// with row stride ld; the sample itself when pointwise, else the columns.
template <class T>
struct Operand {
  T* data;
  int64_t ld;
};

template <class T>
void gemm_conv_forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t hw = g.ho * g.wo, kg = g.cin_g() * g.kh * g.kw, mg = g.cout_g();
  const bool pointwise = g.pointwise();
  const int64_t rows = chunk_rows<T>(g, true), chunks = ceil_div(g.ho, rows);
  // Short-depth chunks are too small for a threaded GEMM (and im2col): the
  // threads take whole chunks instead, each one single-threaded GEMM as at
  // one thread, so the result does not depend on the thread count.
  const bool by_chunk = short_depth(g) && chunks > 1 && g.cout * hw * g.cin_g() * g.kh * g.kw >= kParallelCopy;
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xn = x + n * g.cin * g.h * g.w;
    T* yn = y + n * g.cout * hw;
    // The bias seeds the output and the GEMM accumulates onto it.
    if (bias) {
      parallel_for(g.cout, g.cout * hw >= kParallelCopy, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) std::fill(yn + c * hw, yn + (c + 1) * hw, bias[c]);
      });
    }
    parallel_for_chunks(chunks, by_chunk ? 1 : chunks, [&](int64_t chunk0, int64_t chunk1) {
      for (int64_t chunk = chunk0; chunk < chunk1; ++chunk) {
        const int64_t oh0 = chunk * rows, oh1 = std::min(oh0 + rows, g.ho), cols = (oh1 - oh0) * g.wo;
        T* col = pointwise ? nullptr : column_buffer<T>(g.cin * g.kh * g.kw * rows * g.wo);
        if (!pointwise) im2col(g, xn, oh0, oh1, col);
        const Operand<const T> b = pointwise ? Operand<const T>{xn + oh0 * g.wo, hw} : Operand<const T>{col, cols};
        for (int64_t grp = 0; grp < g.groups; ++grp)
          gemm<T>(false, false, mg, cols, kg, T(1), w + grp * mg * kg, kg, b.data + grp * kg * b.ld, b.ld,
                  bias ? T(1) : T(0), yn + grp * mg * hw + oh0 * g.wo, hw);
      }
    });
  }
}

template <class T>
void gemm_conv_backward(const Geometry& g, const T* x, const T* w, const T* gy, T* gx, T* gw) {
  const int64_t hw = g.ho * g.wo, kg = g.cin_g() * g.kh * g.kw, mg = g.cout_g();
  const bool pointwise = g.pointwise();
  const int64_t rows = chunk_rows<T>(g, false);
  T* col = pointwise ? nullptr : column_buffer<T>(g.cin * g.kh * g.kw * rows * g.wo);
  for (int64_t n = 0; n < g.n; ++n) {
    const T* xn = x ? x + n * g.cin * g.h * g.w : nullptr;
    const T* gyn = gy + n * g.cout * hw;
    T* gxn = gx ? gx + n * g.cin * g.h * g.w : nullptr;
    if (gxn && !pointwise) std::fill(gxn, gxn + g.cin * g.h * g.w, T(0));
    for (int64_t oh0 = 0; oh0 < g.ho; oh0 += rows) {
      const int64_t oh1 = std::min(oh0 + rows, g.ho), cols = (oh1 - oh0) * g.wo;
      const T* gyc = gyn + oh0 * g.wo;  // [cout, cols] with row stride hw
      if (gw) {
        // gw_g (+)= gy_g @ col_g^T, summed over the batch and the chunks.
        if (!pointwise) im2col(g, xn, oh0, oh1, col);
        const Operand<const T> b = pointwise ? Operand<const T>{xn + oh0 * g.wo, hw} : Operand<const T>{col, cols};
        const T beta = n > 0 || oh0 > 0 ? T(1) : T(0);
        for (int64_t grp = 0; grp < g.groups; ++grp)
          gemm<T>(false, true, mg, kg, cols, T(1), gyc + grp * mg * hw, hw, b.data + grp * kg * b.ld, b.ld, beta,
                  gw + grp * mg * kg, kg);
      }
      if (gxn) {
        // col_g = W_g^T @ gy_g, folded back onto the input grid.
        const Operand<T> d = pointwise ? Operand<T>{gxn + oh0 * g.wo, hw} : Operand<T>{col, cols};
        for (int64_t grp = 0; grp < g.groups; ++grp)
          gemm<T>(true, false, kg, cols, mg, T(1), w + grp * mg * kg, kg, gyc + grp * mg * hw, hw, T(0),
                  d.data + grp * kg * d.ld, d.ld);
        if (!pointwise) col2im_add(g, col, oh0, oh1, gxn);
      }
    }
  }
}

#define SONO_INSTANTIATE(T)                                                              \
  template void gemm_conv_forward<T>(const Geometry&, const T*, const T*, const T*, T*); \
  template void gemm_conv_backward<T>(const Geometry&, const T*, const T*, const T*, T*, T*);
SONO_INSTANTIATE(float)
SONO_INSTANTIATE(double)
#undef SONO_INSTANTIATE

}  // namespace sono::cpu::conv
