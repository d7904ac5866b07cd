// Direct depthwise convolution (groups == cin == cout), EfficientNet's hot
// path. Each (sample, channel) plane is first copied into a zero-padded
// scratch plane whose rows are split by column phase (column % stride), so a
// tap at any stride/dilation reads a contiguous run of that plane: the inner
// loop over output columns is a plain vector loop with no bounds checks.
#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/cpu/conv2d_paths.h"

namespace sono::cpu::conv {

namespace {

// One single-channel correlation: a plane [h, w] padded by (pt, pl) on the
// top/left (negative pads crop), read by a [kh, kw] kernel into [ho, wo].
struct Plane {
  int64_t h, w, ho, wo, kh, kw, sh, sw, dh, dw, pt, pl;
};

Plane plane_of(const Geometry& g) { return {g.h, g.w, g.ho, g.wo, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl}; }

// The padded window the taps read, stored row by row; a row holds sw phase
// segments of wq elements, element j of phase p being padded column j*sw + p.
struct Layout {
  int64_t hp, wq, row;
  explicit Layout(const Plane& q)
      : hp((q.ho - 1) * q.sh + (q.kh - 1) * q.dh + 1),
        wq(ceil_div((q.wo - 1) * q.sw + (q.kw - 1) * q.dw + 1, q.sw)),
        row(q.sw * wq) {}
  int64_t size() const { return hp * row; }
  // Where tap column kj of output column 0 sits within a row.
  int64_t tap(const Plane& q, int64_t kj) const {
    int64_t c = kj * q.dw;
    return (c % q.sw) * wq + c / q.sw;
  }
};

// Valid element range [lo, hi) of phase p: those whose source column lies in [0, w).
void phase_range(const Plane& q, const Layout& l, int64_t p, int64_t& lo, int64_t& hi) {
  lo = std::max<int64_t>(0, ceil_div(q.pl - p, q.sw));
  hi = std::min<int64_t>(l.wq, ceil_div(q.w + q.pl - p, q.sw));
  hi = std::max(hi, lo);
}

template <class T>
void pad_plane(const Plane& q, const Layout& l, const T* x, T* pad) {
  for (int64_t r = 0; r < l.hp; ++r) {
    T* dst = pad + r * l.row;
    int64_t ih = r - q.pt;
    if (ih < 0 || ih >= q.h) {
      std::fill(dst, dst + l.row, T(0));
      continue;
    }
    const T* src = x + ih * q.w;
    for (int64_t p = 0; p < q.sw; ++p) {
      T* d = dst + p * l.wq;
      int64_t lo, hi;
      phase_range(q, l, p, lo, hi);
      std::fill(d, d + lo, T(0));
      const int64_t iw0 = p - q.pl;  // input column of element 0; an index, may be negative
      if (q.sw == 1) {
        std::copy(src + lo + iw0, src + hi + iw0, d + lo);
      } else {
        for (int64_t j = lo; j < hi; ++j) d[j] = src[j * q.sw + iw0];
      }
      std::fill(d + hi, d + l.wq, T(0));
    }
  }
}

// Inverse of pad_plane for gradients: the padded entries are dropped and input
// pixels no tap reached get 0.
template <class T>
void unpad_plane(const Plane& q, const Layout& l, const T* pad, T* x) {
  for (int64_t ih = 0; ih < q.h; ++ih) {
    T* dst = x + ih * q.w;
    std::fill(dst, dst + q.w, T(0));
    int64_t r = ih + q.pt;
    if (r < 0 || r >= l.hp) continue;
    for (int64_t p = 0; p < q.sw; ++p) {
      const T* s = pad + r * l.row + p * l.wq;
      int64_t lo, hi;
      phase_range(q, l, p, lo, hi);
      const int64_t iw0 = p - q.pl;
      for (int64_t j = lo; j < hi; ++j) dst[j * q.sw + iw0] = s[j];
    }
  }
}

// out = bias + sum over taps of w[tap] * (shifted padded rows). With K known
// at compile time all K*K taps of one output element accumulate in a register.
template <class T, int K>
void correlate_fixed(const Plane& q, const Layout& l, const T* pad, const T* w, T bias, T* out) {
  int64_t off[K];
  for (int kj = 0; kj < K; ++kj) off[kj] = l.tap(q, kj);
  T wk[K * K];
  for (int t = 0; t < K * K; ++t) wk[t] = w[t];
  for (int64_t oh = 0; oh < q.ho; ++oh) {
    const T* rows[K];
    for (int ki = 0; ki < K; ++ki) rows[ki] = pad + (oh * q.sh + ki * q.dh) * l.row;
    T* o = out + oh * q.wo;
#pragma omp simd
    for (int64_t ow = 0; ow < q.wo; ++ow) {
      T acc = bias;
      for (int ki = 0; ki < K; ++ki)
        for (int kj = 0; kj < K; ++kj) acc += wk[ki * K + kj] * rows[ki][off[kj] + ow];
      o[ow] = acc;
    }
  }
}

template <class T>
void correlate_any(const Plane& q, const Layout& l, const T* pad, const T* w, T bias, T* out) {
  for (int64_t oh = 0; oh < q.ho; ++oh) {
    T* o = out + oh * q.wo;
    std::fill(o, o + q.wo, bias);
    for (int64_t ki = 0; ki < q.kh; ++ki) {
      const T* row = pad + (oh * q.sh + ki * q.dh) * l.row;
      for (int64_t kj = 0; kj < q.kw; ++kj) {
        const T* s = row + l.tap(q, kj);
        const T wv = w[ki * q.kw + kj];
#pragma omp simd
        for (int64_t ow = 0; ow < q.wo; ++ow) o[ow] += wv * s[ow];
      }
    }
  }
}

template <class T>
void correlate(const Plane& q, const Layout& l, const T* pad, const T* w, T bias, T* out) {
  if (q.kh == 3 && q.kw == 3) return correlate_fixed<T, 3>(q, l, pad, w, bias, out);
  if (q.kh == 5 && q.kw == 5) return correlate_fixed<T, 5>(q, l, pad, w, bias, out);
  correlate_any(q, l, pad, w, bias, out);
}

// Transpose of correlate (bias aside): pad += w[tap] * gy scattered to every tap.
template <class T>
void scatter(const Plane& q, const Layout& l, const T* gy, const T* w, T* pad) {
  std::fill(pad, pad + l.size(), T(0));
  for (int64_t oh = 0; oh < q.ho; ++oh) {
    const T* g = gy + oh * q.wo;
    for (int64_t ki = 0; ki < q.kh; ++ki) {
      T* row = pad + (oh * q.sh + ki * q.dh) * l.row;
      for (int64_t kj = 0; kj < q.kw; ++kj) {
        T* d = row + l.tap(q, kj);
        const T wv = w[ki * q.kw + kj];
#pragma omp simd
        for (int64_t ow = 0; ow < q.wo; ++ow) d[ow] += wv * g[ow];
      }
    }
  }
}

// Runs body(plane index, per-thread scratch) over all n*c planes in parallel.
template <class T, class F>
void for_each_plane(int64_t planes, int64_t scratch_size, F body) {
#pragma omp parallel
  {
    std::vector<T> scratch(static_cast<size_t>(scratch_size));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < planes; ++i) body(i, scratch.data());
  }
}

}  // namespace

template <class T>
void depthwise_forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y) {
  const Plane q = plane_of(g);
  const Layout l(q);
  for_each_plane<T>(g.n * g.cin, l.size(), [&](int64_t i, T* pad) {
    const int64_t c = i % g.cin;
    pad_plane(q, l, x + i * g.h * g.w, pad);
    correlate(q, l, pad, w + c * g.kh * g.kw, bias ? bias[c] : T(0), y + i * g.ho * g.wo);
  });
}

template <class T>
void depthwise_backward_input(const Geometry& g, const T* gy, const T* w, T* gx) {
  const Plane q = plane_of(g);
  if (g.sh == 1 && g.sw == 1) {
    // At stride 1 the transpose is itself a correlation: gy, padded by the
    // kernel extent minus the forward pad, read by the flipped kernel.
    const Plane t{g.ho, g.wo, g.h, g.w, g.kh, g.kw, 1, 1, g.dh, g.dw, (g.kh - 1) * g.dh - g.pt,
                  (g.kw - 1) * g.dw - g.pl};
    const Layout l(t);
    const int64_t kk = g.kh * g.kw;
    for_each_plane<T>(g.n * g.cin, l.size() + kk, [&](int64_t i, T* scratch) {
      const int64_t c = i % g.cin;
      T* flipped = scratch + l.size();
      const T* wc = w + c * kk;
      for (int64_t k = 0; k < kk; ++k) flipped[k] = wc[kk - 1 - k];
      pad_plane(t, l, gy + i * g.ho * g.wo, scratch);
      correlate(t, l, scratch, flipped, T(0), gx + i * g.h * g.w);
    });
    return;
  }
  const Layout l(q);
  for_each_plane<T>(g.n * g.cin, l.size(), [&](int64_t i, T* pad) {
    const int64_t c = i % g.cin;
    scatter(q, l, gy + i * g.ho * g.wo, w + c * g.kh * g.kw, pad);
    unpad_plane(q, l, pad, gx + i * g.h * g.w);
  });
}

template <class T>
void depthwise_backward_weight(const Geometry& g, const T* x, const T* gy, T* gw) {
  const Plane q = plane_of(g);
  const Layout l(q);
  const int64_t kk = g.kh * g.kw;
  // Parallel over channels with the batch inside, so each gw entry has one
  // writer and a fixed summation order.
  for_each_plane<T>(g.cin, l.size(), [&](int64_t c, T* pad) {
    T* gwc = gw + c * kk;
    std::fill(gwc, gwc + kk, T(0));
    for (int64_t n = 0; n < g.n; ++n) {
      const int64_t i = n * g.cin + c;
      pad_plane(q, l, x + i * g.h * g.w, pad);
      const T* gyp = gy + i * g.ho * g.wo;
      for (int64_t oh = 0; oh < q.ho; ++oh) {
        const T* gr = gyp + oh * q.wo;
        for (int64_t ki = 0; ki < q.kh; ++ki) {
          const T* row = pad + (oh * q.sh + ki * q.dh) * l.row;
          for (int64_t kj = 0; kj < q.kw; ++kj) {
            const T* s = row + l.tap(q, kj);
            T acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int64_t ow = 0; ow < q.wo; ++ow) acc += gr[ow] * s[ow];
            gwc[ki * q.kw + kj] += acc;
          }
        }
      }
    }
  });
}

#define SONO_INSTANTIATE(T)                                                                  \
  template void depthwise_forward<T>(const Geometry&, const T*, const T*, const T*, T*);    \
  template void depthwise_backward_input<T>(const Geometry&, const T*, const T*, T*);       \
  template void depthwise_backward_weight<T>(const Geometry&, const T*, const T*, T*);
SONO_INSTANTIATE(float)
SONO_INSTANTIATE(double)
#undef SONO_INSTANTIATE

}  // namespace sono::cpu::conv
