// CPU upsampling of contiguous NCHW planes: nearest x2 (output (y, x) reads
// input (y / 2, x / 2)) and bilinear to any size with or without
// align_corners, with PyTorch's arithmetic. Forwards overwrite y; backwards
// overwrite gx with the transpose (the sum of the output gradients each input
// element fed), accumulating in a per-plane buffer that starts at zero.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "ops/upsample.h"

namespace sono::cpu {

namespace {

// Source indices and weights of every output index along one axis, computed
// once and reused by all planes and rows.
// 32-bit indices: AVX2 gathers 8 floats with them, but only 4 with 64-bit ones.
template <class T>
struct AxisTaps {
  std::vector<int32_t> i0, i1;
  std::vector<T> l0, l1;
  AxisTaps(int64_t in, int64_t out, bool align_corners) : i0(out), i1(out), l0(out), l1(out) {
    const T scale = upsample_detail::linear_scale<T>(in, out, align_corners);
    for (int64_t d = 0; d < out; ++d) {
      int64_t a, b;
      upsample_detail::linear_source<T>(d, in, out, scale, align_corners, a, b, l0[d], l1[d]);
      i0[d] = int32_t(a);
      i1[d] = int32_t(b);
    }
  }
};

// dst[c] = l0[c] * src[i0[c]] + l1[c] * src[i1[c]]: one row interpolated along W.
template <class T>
void interpolate_row(const T* src, const AxisTaps<T>& taps, T* dst) {
  const int64_t n = int64_t(taps.i0.size());
  const int32_t *i0 = taps.i0.data(), *i1 = taps.i1.data();
  const T *l0 = taps.l0.data(), *l1 = taps.l1.data();
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) dst[c] = l0[c] * src[i0[c]] + l1[c] * src[i1[c]];
}

// The transpose of interpolate_row: dst[i0[c]] += l0[c] * g[c], dst[i1[c]] += l1[c] * g[c].
template <class T>
void scatter_row(const T* g, const AxisTaps<T>& taps, T* dst) {
  const int64_t n = int64_t(taps.i0.size());
  const int32_t *i0 = taps.i0.data(), *i1 = taps.i1.data();
  const T *l0 = taps.l0.data(), *l1 = taps.l1.data();
  for (int64_t c = 0; c < n; ++c) {
    dst[i0[c]] += l0[c] * g[c];
    dst[i1[c]] += l1[c] * g[c];
  }
}

}  // namespace

void upsample_nearest2x_forward(const Tensor& x, const Tensor& y) {
  if (bf16::widened(upsample_nearest2x_forward, x, bf16::out(y))) return;
  dispatch_float(x.dtype(), "upsample_nearest2x", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* in = x.data<scalar_t>();
    scalar_t* out = y.data<scalar_t>();
    const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
    // One task per input row (p, r) = t / h, t % h.
    parallel_for(planes * h, worth_parallel(planes * h * w), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const scalar_t* src = in + t * w;
        scalar_t* dst = out + (t / h * 2 * h + 2 * (t % h)) * 2 * w;
#pragma omp simd
        for (int64_t c = 0; c < w; ++c) dst[2 * c] = dst[2 * c + 1] = src[c];
        std::memcpy(dst + 2 * w, dst, size_t(2 * w) * sizeof(scalar_t));
      }
    });
  });
}

void upsample_nearest2x_backward(const Tensor& gy, const Tensor& gx) {
  if (bf16::widened(upsample_nearest2x_backward, gy, bf16::out(gx))) return;
  dispatch_float(gy.dtype(), "upsample_nearest2x_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* g = gy.data<scalar_t>();
    scalar_t* out = gx.data<scalar_t>();
    const int64_t planes = gx.size(0) * gx.size(1), h = gx.size(2), w = gx.size(3);
    parallel_for(planes * h, worth_parallel(planes * h * w), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const scalar_t* top = g + (t / h * 2 * h + 2 * (t % h)) * 2 * w;
        const scalar_t* bottom = top + 2 * w;
        scalar_t* dst = out + t * w;
        // PyTorch's accumulation order: row-major over the output block
#pragma omp simd
        for (int64_t c = 0; c < w; ++c) dst[c] = top[2 * c] + top[2 * c + 1] + bottom[2 * c] + bottom[2 * c + 1];
      }
    });
  });
}

// Bilinear interpolation is separable: each output row blends two input rows
// interpolated along W. Interpolating those rows once and blending whole rows
// keeps the gathers to one per (input row, output column) and the blend a
// plain vector loop, with the same arithmetic as PyTorch's
// rl0 * (cl0 * a + cl1 * b) + rl1 * (cl0 * c + cl1 * d).
void upsample_bilinear2d_forward(const Tensor& x, const Tensor& y, bool align_corners) {
  if (bf16::widened(upsample_bilinear2d_forward, x, bf16::out(y), align_corners)) return;
  dispatch_float(x.dtype(), "upsample_bilinear2d", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* in = x.data<scalar_t>();
    scalar_t* out = y.data<scalar_t>();
    const int64_t planes = x.size(0) * x.size(1), ih = x.size(2), iw = x.size(3);
    const int64_t oh = y.size(2), ow = y.size(3);
    const AxisTaps<scalar_t> rows(ih, oh, align_corners), cols(iw, ow, align_corners);
    // Blocks of output rows are the parallel tasks, so a single plane still
    // uses every thread; each block re-interpolates at most two rows.
    constexpr int64_t kRowBlock = 16;
    const int64_t blocks = (oh + kRowBlock - 1) / kRowBlock;
    parallel_for(planes * blocks, worth_parallel(planes * oh * ow), [&](int64_t t0, int64_t t1) {
      // Two-slot cache of W-interpolated input rows; source rows never
      // decrease with the output row, so each is computed once per block.
      std::vector<scalar_t> buf(size_t(2 * ow));
      scalar_t* slot[2] = {buf.data(), buf.data() + ow};
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t p = t / blocks, blk = t % blocks;
        int64_t cached[2] = {-1, -1};
        auto row = [&](int64_t i) -> const scalar_t* {
          if (cached[0] == i) return slot[0];
          if (cached[1] == i) return slot[1];
          std::swap(slot[0], slot[1]);  // evict the older row
          std::swap(cached[0], cached[1]);
          cached[0] = i;
          interpolate_row(in + (p * ih + i) * iw, cols, slot[0]);
          return slot[0];
        };
        for (int64_t r = blk * kRowBlock; r < std::min(oh, (blk + 1) * kRowBlock); ++r) {
          const scalar_t* top = row(rows.i0[r]);
          const scalar_t* bottom = row(rows.i1[r]);
          const scalar_t rl0 = rows.l0[r], rl1 = rows.l1[r];
          scalar_t* dst = out + (p * oh + r) * ow;
#pragma omp simd
          for (int64_t c = 0; c < ow; ++c) dst[c] = rl0 * top[c] + rl1 * bottom[c];
        }
      }
    });
  });
}

// The transpose of the separable forward: scatter every output row into its
// two input rows (a vector loop), then each accumulated row along W.
void upsample_bilinear2d_backward(const Tensor& gy, const Tensor& gx, bool align_corners) {
  if (bf16::widened(upsample_bilinear2d_backward, gy, bf16::out(gx), align_corners)) return;
  dispatch_float(gy.dtype(), "upsample_bilinear2d_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* g = gy.data<scalar_t>();
    scalar_t* out = gx.data<scalar_t>();
    const int64_t planes = gx.size(0) * gx.size(1), ih = gx.size(2), iw = gx.size(3);
    const int64_t oh = gy.size(2), ow = gy.size(3);
    const AxisTaps<scalar_t> rows(ih, oh, align_corners), cols(iw, ow, align_corners);
    // Output rows scatter into overlapping input rows, so only planes run in parallel.
    parallel_for(planes, worth_parallel(planes * oh * ow), [&](int64_t p0, int64_t p1) {
      std::vector<scalar_t> acc(size_t(ih * ow));  // gradient w.r.t. the W-interpolated input rows
      for (int64_t p = p0; p < p1; ++p) {
        std::fill(acc.begin(), acc.end(), scalar_t(0));
        for (int64_t r = 0; r < oh; ++r) {
          scalar_t* top = acc.data() + rows.i0[r] * ow;
          scalar_t* bottom = acc.data() + rows.i1[r] * ow;
          const scalar_t rl0 = rows.l0[r], rl1 = rows.l1[r];
          const scalar_t* src = g + (p * oh + r) * ow;
#pragma omp simd
          for (int64_t c = 0; c < ow; ++c) top[c] += rl0 * src[c];
#pragma omp simd
          for (int64_t c = 0; c < ow; ++c) bottom[c] += rl1 * src[c];
        }
        scalar_t* plane = out + p * ih * iw;
        std::fill(plane, plane + ih * iw, scalar_t(0));
        for (int64_t i = 0; i < ih; ++i) scatter_row(acc.data() + i * ow, cols, plane + i * iw);
      }
    });
  });
}

}  // namespace sono::cpu
