#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/upsample.h"

namespace sono::cpu {

namespace {

constexpr int64_t kParallelElems = 32768;  // below this, starting threads costs more than it saves

// Source indices and weights of every output index along one axis, computed
// once and reused by all planes and rows.
template <class T>
struct AxisTaps {
  std::vector<int64_t> i0, i1;
  std::vector<T> l0, l1;
  AxisTaps(int64_t in, int64_t out, bool align_corners) : i0(out), i1(out), l0(out), l1(out) {
    const T scale = upsample_detail::linear_scale<T>(in, out, align_corners);
    for (int64_t d = 0; d < out; ++d)
      upsample_detail::linear_source<T>(d, in, out, scale, align_corners, i0[d], i1[d], l0[d], l1[d]);
  }
};

}  // namespace

void upsample_nearest2x_forward(const Tensor& x, const Tensor& y) {
  dispatch_float(x.dtype(), "upsample_nearest2x", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* in = x.data<scalar_t>();
    scalar_t* out = y.data<scalar_t>();
    const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
#pragma omp parallel for collapse(2) if (planes * h * w > kParallelElems)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t r = 0; r < h; ++r) {
        const scalar_t* src = in + (p * h + r) * w;
        scalar_t* dst = out + (p * 2 * h + 2 * r) * 2 * w;
#pragma omp simd
        for (int64_t c = 0; c < w; ++c) dst[2 * c] = dst[2 * c + 1] = src[c];
        std::memcpy(dst + 2 * w, dst, size_t(2 * w) * sizeof(scalar_t));
      }
  });
}

void upsample_nearest2x_backward(const Tensor& gy, const Tensor& gx) {
  dispatch_float(gy.dtype(), "upsample_nearest2x_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* g = gy.data<scalar_t>();
    scalar_t* out = gx.data<scalar_t>();
    const int64_t planes = gx.size(0) * gx.size(1), h = gx.size(2), w = gx.size(3);
#pragma omp parallel for collapse(2) if (planes * h * w > kParallelElems)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t r = 0; r < h; ++r) {
        const scalar_t* top = g + (p * 2 * h + 2 * r) * 2 * w;
        const scalar_t* bottom = top + 2 * w;
        scalar_t* dst = out + (p * h + r) * w;
        // PyTorch's accumulation order: row-major over the output block
#pragma omp simd
        for (int64_t c = 0; c < w; ++c) dst[c] = top[2 * c] + top[2 * c + 1] + bottom[2 * c] + bottom[2 * c + 1];
      }
  });
}

void upsample_bilinear2d_forward(const Tensor& x, const Tensor& y, bool align_corners) {
  dispatch_float(x.dtype(), "upsample_bilinear2d", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* in = x.data<scalar_t>();
    scalar_t* out = y.data<scalar_t>();
    const int64_t planes = x.size(0) * x.size(1), ih = x.size(2), iw = x.size(3);
    const int64_t oh = y.size(2), ow = y.size(3);
    const AxisTaps<scalar_t> rows(ih, oh, align_corners), cols(iw, ow, align_corners);
    const int64_t *c0 = cols.i0.data(), *c1 = cols.i1.data();
    const scalar_t *cl0 = cols.l0.data(), *cl1 = cols.l1.data();
#pragma omp parallel for collapse(2) if (planes * oh * ow > kParallelElems)
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t r = 0; r < oh; ++r) {
        const scalar_t* top = in + (p * ih + rows.i0[r]) * iw;
        const scalar_t* bottom = in + (p * ih + rows.i1[r]) * iw;
        const scalar_t rl0 = rows.l0[r], rl1 = rows.l1[r];
        scalar_t* dst = out + (p * oh + r) * ow;
        // Same association as PyTorch: interpolate along W, then along H.
#pragma omp simd
        for (int64_t c = 0; c < ow; ++c)
          dst[c] = rl0 * (cl0[c] * top[c0[c]] + cl1[c] * top[c1[c]]) +
                   rl1 * (cl0[c] * bottom[c0[c]] + cl1[c] * bottom[c1[c]]);
      }
  });
}

void upsample_bilinear2d_backward(const Tensor& gy, const Tensor& gx, bool align_corners) {
  dispatch_float(gy.dtype(), "upsample_bilinear2d_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* g = gy.data<scalar_t>();
    scalar_t* out = gx.data<scalar_t>();
    const int64_t planes = gx.size(0) * gx.size(1), ih = gx.size(2), iw = gx.size(3);
    const int64_t oh = gy.size(2), ow = gy.size(3);
    const AxisTaps<scalar_t> rows(ih, oh, align_corners), cols(iw, ow, align_corners);
    // Output rows scatter into overlapping input rows, so only planes run in parallel.
#pragma omp parallel for if (planes * oh * ow > kParallelElems)
    for (int64_t p = 0; p < planes; ++p) {
      scalar_t* plane = out + p * ih * iw;
      std::fill(plane, plane + ih * iw, scalar_t(0));
      for (int64_t r = 0; r < oh; ++r) {
        scalar_t* top = plane + rows.i0[r] * iw;
        scalar_t* bottom = plane + rows.i1[r] * iw;
        const scalar_t rl0 = rows.l0[r], rl1 = rows.l1[r];
        const scalar_t* src = g + (p * oh + r) * ow;
        for (int64_t c = 0; c < ow; ++c) {
          const scalar_t v = src[c];
          top[cols.i0[c]] += rl0 * cols.l0[c] * v;
          top[cols.i1[c]] += rl0 * cols.l1[c] * v;
          bottom[cols.i0[c]] += rl1 * cols.l0[c] * v;
          bottom[cols.i1[c]] += rl1 * cols.l1[c] * v;
        }
      }
    }
  });
}

}  // namespace sono::cpu
