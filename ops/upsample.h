#pragma once
#include <cmath>

#include "core/backend.h"
#include "core/macros.h"
#include "core/tensor.h"

namespace sono {

// Nearest x2 over NCHW: out(y, x) = in(y / 2, x / 2).
Tensor upsample_nearest2x(const Tensor& x);

// Bilinear resize of NCHW to (out_h, out_w), PyTorch semantics:
// align_corners=true:  src = dst * (in - 1) / (out - 1)
// align_corners=false: src = max(0, (dst + 0.5) * in / out - 0.5)
Tensor upsample_bilinear2d(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners);

// ---- shared by the backends: PyTorch's linear source mapping along one axis ----
namespace upsample_detail {

// The ratio PyTorch derives from the sizes (never from a scale factor, which
// equals in/out for the integer factors the model uses), in the kernel's type.
template <class T>
SONO_HD T linear_scale(int64_t in, int64_t out, bool align_corners) {
  if (align_corners) return out > 1 ? T(in - 1) / T(out - 1) : T(0);
  return T(in) / T(out);
}

// Output index dst reads input indices i0 and i1 (i1 == i0 at the last input
// pixel) with weights l0 and l1; equal sizes copy, as in PyTorch.
template <class T>
SONO_HD void linear_source(int64_t dst, int64_t in, int64_t out, T scale, bool align_corners, int64_t& i0, int64_t& i1,
                           T& l0, T& l1) {
  if (in == out) {
    i0 = i1 = dst;
    l0 = T(1);
    l1 = T(0);
    return;
  }
  T src = align_corners ? scale * T(dst) : scale * (T(dst) + T(0.5)) - T(0.5);
  if (!align_corners && src < T(0)) src = T(0);
  int64_t i = int64_t(floor(src));
  i0 = i < in - 1 ? i : in - 1;
  T lambda = src - T(i0);
  l1 = lambda < T(0) ? T(0) : (lambda > T(1) ? T(1) : lambda);
  l0 = T(1) - l1;
  i1 = i0 < in - 1 ? i0 + 1 : i0;
}

}  // namespace upsample_detail

// ---- backends: all tensors contiguous NCHW of one dtype --------------------
SONO_BACKEND_FN(void, upsample_nearest2x_forward, (const Tensor& x, const Tensor& y));
SONO_BACKEND_FN(void, upsample_nearest2x_backward, (const Tensor& gy, const Tensor& gx));  // gx: sum of each 2x2 block
SONO_BACKEND_FN(void, upsample_bilinear2d_forward, (const Tensor& x, const Tensor& y, bool align_corners));
SONO_BACKEND_FN(void, upsample_bilinear2d_backward, (const Tensor& gy, const Tensor& gx, bool align_corners));

}  // namespace sono
