// Direct depthwise convolution (groups == cin == cout), EfficientNet's hot
// path. Each (sample, channel) plane is first copied into a zero-padded
// scratch plane whose rows are split by column phase (column % stride), so a
// tap at any stride/dilation reads a contiguous run of that plane: the inner
// loop over output columns is a plain vector loop with no bounds checks.
// Layout: contiguous NCHW x/y/gy/gx, weight [C, 1, kH, kW]. Outputs: y, gx
// and gw are overwritten (gw is zeroed per channel, then every sample adds its taps).
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
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
  std::vector<int64_t> taps;  // taps[kj]: where tap column kj of output column 0 sits in a row
  explicit Layout(const Plane& q)
      : hp((q.ho - 1) * q.sh + (q.kh - 1) * q.dh + 1),
        wq(ceil_div((q.wo - 1) * q.sw + (q.kw - 1) * q.dw + 1, q.sw)),
        row(q.sw * wq) {
    for (int64_t kj = 0; kj < q.kw; ++kj) taps.push_back(kj * q.dw % q.sw * wq + kj * q.dw / q.sw);
  }
  int64_t size() const { return hp * row; }
  int64_t tap(int64_t kj) const { return taps[size_t(kj)]; }
};

// Padded row c <- input row column c - pl (zero outside the input), c in [0, len).
template <class T>
void pad_row(const Plane& q, int64_t len, const T* src, T* row) {
  const int64_t lo = std::clamp<int64_t>(q.pl, 0, len), hi = std::clamp<int64_t>(q.w + q.pl, lo, len);
  std::fill(row, row + lo, T(0));
  std::copy(src + (lo - q.pl), src + (hi - q.pl), row + lo);
  std::fill(row + hi, row + len, T(0));
}

// Inverse of pad_row: input columns the padded row does not cover get 0.
template <class T>
void unpad_row(const Plane& q, int64_t len, const T* row, T* dst) {
  const int64_t lo = std::clamp<int64_t>(-q.pl, 0, q.w), hi = std::clamp<int64_t>(len - q.pl, lo, q.w);
  std::fill(dst, dst + lo, T(0));
  std::copy(row + (lo + q.pl), row + (hi + q.pl), dst + lo);
  std::fill(dst + hi, dst + q.w, T(0));
}

// row [s * wq] -> phases [s][wq] and back. Stride 2 gets its own loop, which
// the compiler vectorizes as an interleaved access group.
template <class T>
void split_phases(const T* row, int64_t s, int64_t wq, T* out) {
  if (s == 2) {
    T* odd = out + wq;
#pragma omp simd
    for (int64_t j = 0; j < wq; ++j) {
      out[j] = row[2 * j];
      odd[j] = row[2 * j + 1];
    }
    return;
  }
  for (int64_t p = 0; p < s; ++p)
    for (int64_t j = 0; j < wq; ++j) out[p * wq + j] = row[j * s + p];
}

template <class T>
void merge_phases(const T* in, int64_t s, int64_t wq, T* row) {
  if (s == 2) {
    const T* odd = in + wq;
#pragma omp simd
    for (int64_t j = 0; j < wq; ++j) {
      row[2 * j] = in[j];
      row[2 * j + 1] = odd[j];
    }
    return;
  }
  for (int64_t p = 0; p < s; ++p)
    for (int64_t j = 0; j < wq; ++j) row[j * s + p] = in[p * wq + j];
}

// x [h, w] -> the padded, phase-split window, writing only the cells an
// input pixel lands on (and, at stride > 1, whole rows). The rest of the
// window is padding and must already be zero: scratch starts zeroed and only
// pad_plane writes to a window, always at the same cells, so the zeros of the
// first plane serve every later one. This keeps small planes (8x8 at 5x5)
// from paying for their borders again and again.
template <class T>
void pad_plane(const Plane& q, const Layout& l, const T* x, T* pad, T* stage) {
  const int64_t r0 = std::max<int64_t>(q.pt, 0), r1 = std::min<int64_t>(q.h + q.pt, l.hp);
  const int64_t lo = std::clamp<int64_t>(q.pl, 0, l.row), hi = std::clamp<int64_t>(q.w + q.pl, lo, l.row);
  for (int64_t r = r0; r < r1; ++r) {
    const T* src = x + (r - q.pt) * q.w;
    if (q.sw == 1) {
      T* dst = pad + r * l.row;
#pragma omp simd
      for (int64_t c = lo; c < hi; ++c) dst[c] = src[c - q.pl];
    } else {
      pad_row(q, l.row, src, stage);
      split_phases(stage, q.sw, l.wq, pad + r * l.row);
    }
  }
}

// Inverse of pad_plane for gradients: the padded entries are dropped and input
// pixels no tap reached get 0.
template <class T>
void unpad_plane(const Plane& q, const Layout& l, const T* pad, T* x, T* stage) {
  for (int64_t ih = 0; ih < q.h; ++ih) {
    T* dst = x + ih * q.w;
    const int64_t r = ih + q.pt;
    if (r < 0 || r >= l.hp) {
      std::fill(dst, dst + q.w, T(0));
    } else if (q.sw == 1) {
      unpad_row(q, l.row, pad + r * l.row, dst);
    } else {
      merge_phases(pad + r * l.row, q.sw, l.wq, stage);
      unpad_row(q, l.row, stage, dst);
    }
  }
}

// One 256-bit register of T through GCC vector extensions, so one kernel
// serves f32 (8 lanes) and f64 (4 lanes).
template <class T>
struct Simd {
  static constexpr int64_t kLanes = 32 / int64_t(sizeof(T));
  typedef T vec __attribute__((vector_size(32)));
  // The same register at any address: memcpy-based stores went through the
  // stack in xmm halves in some kernels (GCC 13 kept the accumulators there).
  typedef T unaligned __attribute__((vector_size(32), aligned(alignof(T)), may_alias));
  static vec load(const T* p) { return *reinterpret_cast<const unaligned*>(p); }
  static void store(T* p, const vec& v) { *reinterpret_cast<unaligned*>(p) = v; }
  static vec broadcast(T x) {
    vec v;
    for (int64_t i = 0; i < kLanes; ++i) v[i] = x;
    return v;
  }
};

// Output rows [oh0, oh0 + R) x columns [ow0, ow0 + lanes) of the correlation:
// R accumulators share each tap's weight broadcast. KH/KW > 0 fix the kernel
// size at compile time (fully unrolled taps); 0 reads it from q.
template <class T, int R, int KH, int KW>
inline void correlate_block(const Plane& q, const Layout& l, const T* pad, const T* w, T bias, int64_t oh0, int64_t ow0,
                            T* out, int64_t ldo) {
  using S = Simd<T>;
  using vec = typename S::vec;
  const int64_t kh = KH ? KH : q.kh, kw = KW ? KW : q.kw;
  const int64_t rstep = q.sh * l.row, kstep = q.dh * l.row;
  vec acc[R];
  for (int r = 0; r < R; ++r) acc[r] = S::broadcast(bias);
  const T* base = pad + oh0 * rstep + ow0;
  for (int64_t ki = 0; ki < kh; ++ki) {
    for (int64_t kj = 0; kj < kw; ++kj) {
      const vec wv = S::broadcast(w[ki * kw + kj]);
      const T* src = base + ki * kstep + l.tap(kj);
      for (int r = 0; r < R; ++r) acc[r] += wv * S::load(src + r * rstep);
    }
  }
  for (int r = 0; r < R; ++r) S::store(out + (oh0 + r) * ldo + ow0, acc[r]);
}

// Row-at-a-time fallback for outputs narrower than one vector.
template <class T>
void correlate_narrow(const Plane& q, const Layout& l, const T* pad, const T* w, T bias, T* out, int64_t ldo) {
  for (int64_t oh = 0; oh < q.ho; ++oh) {
    T* o = out + oh * ldo;
    std::fill(o, o + q.wo, bias);
    for (int64_t ki = 0; ki < q.kh; ++ki) {
      const T* row = pad + (oh * q.sh + ki * q.dh) * l.row;
      for (int64_t kj = 0; kj < q.kw; ++kj) {
        const T* src = row + l.tap(kj);
        const T wv = w[ki * q.kw + kj];
        for (int64_t ow = 0; ow < q.wo; ++ow) o[ow] += wv * src[ow];
      }
    }
  }
}

// out = bias + sum over taps of w[tap] * (shifted window rows), in blocks of
// 4 rows x one vector. A ragged right edge recomputes the last full vector
// (same values), so no scalar tail is needed.
template <class T, int KH, int KW>
void correlate_tiled(const Plane& q, const Layout& l, const T* pad, const T* w, T bias, T* out, int64_t ldo) {
  constexpr int64_t V = Simd<T>::kLanes;
  constexpr int R = 4;
  for (int64_t oh0 = 0; oh0 < q.ho;) {
    const bool full = oh0 + R <= q.ho;
    for (int64_t ow0 = 0; ow0 < q.wo; ow0 += V) {
      const int64_t o = std::min(ow0, q.wo - V);
      if (full) correlate_block<T, R, KH, KW>(q, l, pad, w, bias, oh0, o, out, ldo);
      else correlate_block<T, 1, KH, KW>(q, l, pad, w, bias, oh0, o, out, ldo);
    }
    oh0 += full ? R : 1;
  }
}

// out (rows ldo apart) = the correlation of pad by w, plus bias.
template <class T>
void correlate(const Plane& q, const Layout& l, const T* pad, const T* w, T bias, T* out, int64_t ldo) {
  if (q.wo < Simd<T>::kLanes) return correlate_narrow(q, l, pad, w, bias, out, ldo);
  if (q.kh == 3 && q.kw == 3) return correlate_tiled<T, 3, 3>(q, l, pad, w, bias, out, ldo);
  if (q.kh == 5 && q.kw == 5) return correlate_tiled<T, 5, 5>(q, l, pad, w, bias, out, ldo);
  // The sub-kernels of 3x3 and 5x5 at stride 2 (StridedTranspose).
  if (q.kh == 2 && q.kw == 2) return correlate_tiled<T, 2, 2>(q, l, pad, w, bias, out, ldo);
  if (q.kh == 2 && q.kw == 1) return correlate_tiled<T, 2, 1>(q, l, pad, w, bias, out, ldo);
  if (q.kh == 1 && q.kw == 2) return correlate_tiled<T, 1, 2>(q, l, pad, w, bias, out, ldo);
  if (q.kh == 1 && q.kw == 1) return correlate_tiled<T, 1, 1>(q, l, pad, w, bias, out, ldo);
  if (q.kh == 3 && q.kw == 2) return correlate_tiled<T, 3, 2>(q, l, pad, w, bias, out, ldo);
  if (q.kh == 2 && q.kw == 3) return correlate_tiled<T, 2, 3>(q, l, pad, w, bias, out, ldo);
  correlate_tiled<T, 0, 0>(q, l, pad, w, bias, out, ldo);
}

// gw [kh, kw] += sum over (oh, ow) of gy * (window under each tap). The taps
// go in blocks of up to kTapBlock (row-major over (ki, kj)), each block one
// pass over gy whose partial sums stay in vector registers: one gy load feeds
// every tap of the block, and the block's independent accumulators keep both
// FMA pipes busy (a kernel row of 3 taps alone waits on the FMA latency).
// Columns past the last full vector go through a scalar tail. The order of
// every sum is fixed by the shape (lanes, then the tail, per tap).
template <class T>
void accumulate_weight_grad(const Plane& q, const Layout& l, const T* pad, const T* gy, T* gw) {
  using S = Simd<T>;
  using vec = typename S::vec;
  constexpr int64_t V = S::kLanes;
  constexpr int kTapBlock = 9;
  const int64_t wv = q.wo - q.wo % V, kk = q.kh * q.kw;
  for (int64_t t0 = 0; t0 < kk; t0 += kTapBlock) {
    const int nb = int(std::min<int64_t>(kTapBlock, kk - t0));
    int64_t off[kTapBlock];  // where each tap of the block reads, from the start of its output row's window
    for (int j = 0; j < kTapBlock; ++j) {
      const int64_t t = t0 + std::min(j, nb - 1);
      off[j] = t / q.kw * q.dh * l.row + l.tap(t % q.kw);
    }
    vec acc[kTapBlock];
    T tail[kTapBlock];
    for (int j = 0; j < kTapBlock; ++j) acc[j] = S::broadcast(T(0)), tail[j] = T(0);
    for (int64_t oh = 0; oh < q.ho; ++oh) {
      const T* gr = gy + oh * q.wo;
      const T* row = pad + oh * q.sh * l.row;
      for (int64_t ow0 = 0; ow0 < wv; ow0 += V) {
        const vec gv = S::load(gr + ow0);
        for (int j = 0; j < kTapBlock; ++j)
          if (j < nb) acc[j] += gv * S::load(row + off[j] + ow0);
      }
      for (int64_t ow = wv; ow < q.wo; ++ow)
        for (int j = 0; j < nb; ++j) tail[j] += gr[ow] * row[off[j] + ow];
    }
    for (int j = 0; j < nb; ++j) {
      T sum = tail[j];
      for (int64_t v = 0; v < V; ++v) sum += acc[j][v];
      gw[t0 + j] += sum;
    }
  }
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
        T* d = row + l.tap(kj);
        const T wv = w[ki * q.kw + kj];
#pragma omp simd
        for (int64_t ow = 0; ow < q.wo; ++ow) d[ow] += wv * g[ow];
      }
    }
  }
}

// The input gradient of a strided undilated conv as a gather: the padded
// window's row phase pr (rows pr + sh*a) and column phase pc (the layout's
// phase segment pc) receive exactly the taps (pr + sh*u, pc + sw*v), from gy
// pixel (a - u, j - v). So each of the sh*sw phases is a stride-1
// correlation of gy by its flipped sub-kernel, written once per output block
// with the taps in registers (correlate), where the scatter adds every tap
// into memory. gy is padded once for the largest sub-kernel; a smaller one
// reads the same plane from an offset. The window then goes through
// unpad_plane as with the scatter.
struct StridedTranspose {
  const Plane& q;
  const Layout& l;
  int64_t umax, vmax;
  Plane t;  // gy padded for the largest sub-kernel, read at stride 1
  Layout lt;
  StridedTranspose(const Plane& q_, const Layout& l_)
      : q(q_),
        l(l_),
        umax(ceil_div(q.kh, q.sh)),
        vmax(ceil_div(q.kw, q.sw)),
        t{q.ho, q.wo, ceil_div(l.hp, q.sh), l.wq, umax, vmax, 1, 1, 1, 1, umax - 1, vmax - 1},
        lt(t) {}
  // Taps of a k-tap kernel axis at stride st that land on phase p.
  static int64_t taps(int64_t k, int64_t st, int64_t p) { return std::max<int64_t>(0, ceil_div(k - p, st)); }
  // The window, padded gy, a staging row for each and the sub-kernels.
  int64_t scratch_size() const { return l.size() + lt.size() + lt.row + l.row + q.kh * q.kw; }

  template <class T>
  void run(const T* gy, const T* w, T* scratch, T* gx) const {
    T* win = scratch;
    T* gyp = win + l.size();
    T* stage = gyp + lt.size();
    T* sub = stage + std::max(lt.row, l.row);
    pad_plane(t, lt, gy, gyp, stage);
    // The flipped sub-kernels, phase after phase.
    for (int64_t pr = 0, k = 0; pr < q.sh; ++pr)
      for (int64_t pc = 0; pc < q.sw; ++pc) {
        const int64_t u = taps(q.kh, q.sh, pr), v = taps(q.kw, q.sw, pc);
        for (int64_t i = 0; i < u; ++i)
          for (int64_t j = 0; j < v; ++j) sub[k++] = w[(pr + q.sh * (u - 1 - i)) * q.kw + pc + q.sw * (v - 1 - j)];
      }
    // Blocks of kRows rows of every phase at a time, so the window rows they
    // write stay in L1 across the phases.
    constexpr int64_t kRows = 4;
    const int64_t ldo = q.sh * l.row;
    for (int64_t a0 = 0; a0 < t.ho; a0 += kRows) {
      const T* wk = sub;
      for (int64_t pr = 0; pr < q.sh; ++pr) {
        const int64_t rows = std::min(kRows, ceil_div(l.hp - pr, q.sh) - a0), u = taps(q.kh, q.sh, pr);
        for (int64_t pc = 0; pc < q.sw; ++pc) {
          const int64_t v = taps(q.kw, q.sw, pc);
          T* out = win + (pr + a0 * q.sh) * l.row + pc * l.wq;
          if (rows > 0 && u * v == 0) {
            for (int64_t a = 0; a < rows; ++a) std::fill(out + a * ldo, out + a * ldo + l.wq, T(0));
          } else if (rows > 0) {
            const Plane s{t.h, t.w, rows, l.wq, u, v, 1, 1, 1, 1, u - 1, v - 1};
            correlate(s, lt, gyp + (a0 + umax - u) * lt.row + (vmax - v), wk, T(0), out, ldo);
          }
          wk += u * v;
        }
      }
    }
    unpad_plane(q, l, win, gx, stage);
  }
};

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelWork = 1 << 16;

// Runs body(plane index, per-thread scratch) over `planes` planes, in
// parallel when the call does at least kParallelWork multiply-adds. Each
// thread's scratch starts zeroed (pad_plane relies on it).
template <class T, class F>
void for_each_plane(const Geometry& g, int64_t planes, int64_t scratch_size, F body) {
  const int64_t work = g.n * g.cin * g.ho * g.wo * g.kh * g.kw;
  std::vector<std::vector<T>> scratch(static_cast<size_t>(num_threads()));
  parallel_for(planes, work >= kParallelWork, [&](int64_t i0, int64_t i1) {
    std::vector<T>& mine = scratch[size_t(this_worker())];
    if (mine.empty()) mine.assign(size_t(scratch_size), T(0));
    for (int64_t i = i0; i < i1; ++i) body(i, mine.data());
  });
}

}  // namespace

template <class T>
void depthwise_forward(const Geometry& g, const T* x, const T* w, const T* bias, T* y) {
  const Plane q = plane_of(g);
  const Layout l(q);
  for_each_plane<T>(g, g.n * g.cin, l.size() + l.row, [&](int64_t i, T* pad) {
    const int64_t c = i % g.cin;
    pad_plane(q, l, x + i * g.h * g.w, pad, pad + l.size());
    correlate(q, l, pad, w + c * g.kh * g.kw, bias ? bias[c] : T(0), y + i * g.ho * g.wo, g.wo);
  });
}

// The gather where its phases average at least 4 taps (5x5 at stride 2: 1.2-1.5x
// faster than the scatter); with fewer (3x3 at stride 2, phases of 4, 2, 2
// and 1 taps) the scatter measured 1.2-1.4x faster (docs/benchmarks.md).
bool depthwise_gather_fits(const Geometry& g) { return g.dh == 1 && g.dw == 1 && g.kh * g.kw >= 4 * g.sh * g.sw; }

template <class T>
void depthwise_backward_input(const Geometry& g, const T* gy, const T* w, T* gx, StridedInputGrad path) {
  const Plane q = plane_of(g);
  const int64_t kk = g.kh * g.kw;
  if (g.sh == 1 && g.sw == 1) {
    // At stride 1 the transpose is itself a correlation: gy, padded by the
    // kernel extent minus the forward pad, read by the flipped kernel.
    const Plane t{
        g.ho, g.wo, g.h, g.w, g.kh, g.kw, 1, 1, g.dh, g.dw, (g.kh - 1) * g.dh - g.pt, (g.kw - 1) * g.dw - g.pl};
    const Layout l(t);
    for_each_plane<T>(g, g.n * g.cin, l.size() + l.row + kk, [&](int64_t i, T* pad) {
      T* flipped = pad + l.size() + l.row;
      const T* wc = w + i % g.cin * kk;
      for (int64_t k = 0; k < kk; ++k) flipped[k] = wc[kk - 1 - k];
      pad_plane(t, l, gy + i * g.ho * g.wo, pad, pad + l.size());
      correlate(t, l, pad, flipped, T(0), gx + i * g.h * g.w, g.w);
    });
    return;
  }
  const Layout l(q);
  const bool gather = path == StridedInputGrad::Auto ? depthwise_gather_fits(g) : path == StridedInputGrad::Gather;
  if (gather) {
    SONO_CHECK(g.dh == 1 && g.dw == 1, "conv2d", "the strided depthwise gather needs dilation 1, got ", g.dh, "x",
               g.dw);
    const StridedTranspose st(q, l);
    for_each_plane<T>(g, g.n * g.cin, st.scratch_size(), [&](int64_t i, T* scratch) {
      st.run(gy + i * g.ho * g.wo, w + i % g.cin * kk, scratch, gx + i * g.h * g.w);
    });
    return;
  }
  for_each_plane<T>(g, g.n * g.cin, l.size() + l.row, [&](int64_t i, T* pad) {
    scatter(q, l, gy + i * g.ho * g.wo, w + i % g.cin * kk, pad);
    unpad_plane(q, l, pad, gx + i * g.h * g.w, pad + l.size());
  });
}

template <class T>
void depthwise_backward_weight(const Geometry& g, const T* x, const T* gy, T* gw) {
  const Plane q = plane_of(g);
  const Layout l(q);
  const int64_t kk = g.kh * g.kw;
  // Parallel over channels with the batch inside, so each gw entry has one
  // writer and a fixed summation order.
  for_each_plane<T>(g, g.cin, l.size() + l.row, [&](int64_t c, T* pad) {
    T* gwc = gw + c * kk;
    std::fill(gwc, gwc + kk, T(0));
    for (int64_t n = 0; n < g.n; ++n) {
      const int64_t i = n * g.cin + c;
      pad_plane(q, l, x + i * g.h * g.w, pad, pad + l.size());
      accumulate_weight_grad(q, l, pad, gy + i * g.ho * g.wo, gwc);
    }
  });
}

#define SONO_INSTANTIATE(T)                                                                             \
  template void depthwise_forward<T>(const Geometry&, const T*, const T*, const T*, T*);                \
  template void depthwise_backward_input<T>(const Geometry&, const T*, const T*, T*, StridedInputGrad); \
  template void depthwise_backward_weight<T>(const Geometry&, const T*, const T*, T*);
SONO_INSTANTIATE(float)
SONO_INSTANTIATE(double)
#undef SONO_INSTANTIATE

}  // namespace sono::cpu::conv
