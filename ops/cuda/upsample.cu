// Nearest x2 and bilinear resizing on a cuda device (see ops/upsample.h).
//
// Math (PyTorch semantics; the source mapping is upsample_detail's, shared
// with the CPU):
//   nearest2x  y[r, c] = x[r/2, c/2];  gx[i, j] = sum of its 2x2 block of gy
//              (added row-major like the CPU, so both agree bitwise)
//   bilinear   y[r, c] = rl0 * (cl0 * x[i0, j0] + cl1 * x[i0, j1])
//                      + rl1 * (cl0 * x[i1, j0] + cl1 * x[i1, j1])
//              gx[i, j] = sum_r sum_c wr(r, i) * wc(c, j) * gy[r, c], where
//              w(d, i) = [i0(d) == i] l0(d) + [i1(d) == i] l1(d)
// Layout: all tensors contiguous NCHW, planes p = (n, c); f32, f64 or bf16
// (bf16 loaded as float, weights and sums in float / double as for f32,
// outputs rounded to nearest even).
// Launch: one thread per OUTPUT element of each kernel (grid-stride loops).
// The bilinear backward is a gather, not a scatter: the outputs reading input
// row i form the contiguous range {r : i0(r) <= i <= i1(r)} (i0 and i1 never
// decrease with r), found by binary search, so every gx element is written
// once by one thread. No atomics; results are deterministic.
// Outputs: y and gx are overwritten.
#include "core/cuda/launch.h"
#include "ops/upsample.h"

namespace sono::cuda {

namespace {

using upsample_detail::linear_scale;
using upsample_detail::linear_source;

template <class T>
struct Nearest2xForward {
  const T* x;
  T* y;
  int64_t h, w;  // input size
  __device__ void operator()(int64_t i) const {
    const int64_t ow = 2 * w, c = i % ow, rest = i / ow, r = rest % (2 * h), p = rest / (2 * h);
    y[i] = x[(p * h + r / 2) * w + c / 2];
  }
};

template <class T>
struct Nearest2xBackward {
  const T* gy;
  T* gx;
  int64_t h, w;  // input (gx) size
  __device__ void operator()(int64_t i) const {
    const int64_t c = i % w, rest = i / w, r = rest % h, p = rest / h;
    const T* top = gy + (p * 2 * h + 2 * r) * 2 * w + 2 * c;
    const T* bottom = top + 2 * w;
    using C = compute_t<T>;
    gx[i] = scalar_cast<T>(C(top[0]) + C(top[1]) + C(bottom[0]) + C(bottom[1]));
  }
};

// One axis of a bilinear resize from `in` to `out` samples.
template <class T>
struct Axis {
  int64_t in, out;
  T scale;
  bool align_corners;
  __device__ void taps(int64_t d, int64_t& i0, int64_t& i1, T& l0, T& l1) const {
    linear_source<T>(d, in, out, scale, align_corners, i0, i1, l0, l1);
  }
  // Weight of output d on input i.
  __device__ T weight(int64_t d, int64_t i) const {
    int64_t i0, i1;
    T l0, l1;
    taps(d, i0, i1, l0, l1);
    return (i0 == i ? l0 : T(0)) + (i1 == i ? l1 : T(0));
  }
  // First output d whose i1(d) >= i (upper = false) or whose i0(d) > i (upper
  // = true); out when none. Both conditions turn true once and stay true.
  __device__ int64_t search(int64_t i, bool upper) const {
    int64_t lo = 0, hi = out;
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      int64_t i0, i1;
      T l0, l1;
      taps(mid, i0, i1, l0, l1);
      if (upper ? i0 > i : i1 >= i) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
};

template <class T>
Axis<T> make_axis(int64_t in, int64_t out, bool align_corners) {
  return {in, out, linear_scale<T>(in, out, align_corners), align_corners};
}

// The bilinear weights are in the compute type C of the storage type T.
template <class T, class C = compute_t<T>>
struct BilinearForward {
  const T* x;
  T* y;
  Axis<C> rows, cols;
  __device__ void operator()(int64_t i) const {
    const int64_t c = i % cols.out, rest = i / cols.out, r = rest % rows.out, p = rest / rows.out;
    int64_t r0, r1, c0, c1;
    C rl0, rl1, cl0, cl1;
    rows.taps(r, r0, r1, rl0, rl1);
    cols.taps(c, c0, c1, cl0, cl1);
    const T* plane = x + p * rows.in * cols.in;
    const C top = cl0 * C(plane[r0 * cols.in + c0]) + cl1 * C(plane[r0 * cols.in + c1]);
    const C bottom = cl0 * C(plane[r1 * cols.in + c0]) + cl1 * C(plane[r1 * cols.in + c1]);
    y[i] = scalar_cast<T>(rl0 * top + rl1 * bottom);
  }
};

template <class T, class C = compute_t<T>>
struct BilinearBackward {
  const T* gy;
  T* gx;
  Axis<C> rows, cols;  // in = gx size, out = gy size
  __device__ void operator()(int64_t i) const {
    const int64_t j = i % cols.in, rest = i / cols.in, ii = rest % rows.in, p = rest / rows.in;
    const int64_t r_end = rows.search(ii, true), c_begin = cols.search(j, false), c_end = cols.search(j, true);
    const T* plane = gy + p * rows.out * cols.out;
    double acc = 0;
    for (int64_t r = rows.search(ii, false); r < r_end; ++r) {
      double row_acc = 0;
      for (int64_t c = c_begin; c < c_end; ++c) row_acc += double(cols.weight(c, j)) * double(plane[r * cols.out + c]);
      acc += double(rows.weight(r, ii)) * row_acc;
    }
    gx[i] = scalar_cast<T>(acc);
  }
};

}  // namespace

void upsample_nearest2x_forward(const Tensor& x, const Tensor& y) {
  dispatch_real(x.dtype(), "upsample_nearest2x", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(y.device().index, y.numel(), Nearest2xForward<T>{x.data<T>(), y.data<T>(), x.size(2), x.size(3)});
  });
}

void upsample_nearest2x_backward(const Tensor& gy, const Tensor& gx) {
  dispatch_real(gy.dtype(), "upsample_nearest2x_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(gx.device().index, gx.numel(),
                 Nearest2xBackward<T>{gy.data<T>(), gx.data<T>(), gx.size(2), gx.size(3)});
  });
}

void upsample_bilinear2d_forward(const Tensor& x, const Tensor& y, bool align_corners) {
  dispatch_real(x.dtype(), "upsample_bilinear2d", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(
        y.device().index, y.numel(),
        BilinearForward<T>{x.data<T>(), y.data<T>(), make_axis<compute_t<T>>(x.size(2), y.size(2), align_corners),
                           make_axis<compute_t<T>>(x.size(3), y.size(3), align_corners)});
  });
}

void upsample_bilinear2d_backward(const Tensor& gy, const Tensor& gx, bool align_corners) {
  dispatch_real(gy.dtype(), "upsample_bilinear2d_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(
        gx.device().index, gx.numel(),
        BilinearBackward<T>{gy.data<T>(), gx.data<T>(), make_axis<compute_t<T>>(gx.size(2), gy.size(2), align_corners),
                            make_axis<compute_t<T>>(gx.size(3), gy.size(3), align_corners)});
  });
}

}  // namespace sono::cuda
