// Depthwise convolution (groups == cin == cout) on a cuda device, written by
// hand: EfficientNet's hot path (see ops/cuda/conv2d.cu for when it is used).
//
// Math, per channel c with taps (ki, kj), ih = oh*sh - pt + ki*dh,
// iw = ow*sw - pl + kj*dw (outside the input: zero padding, any of the four
// pads, so TF-"same" asymmetric pads need no padded copy):
//   forward   y[n,c,oh,ow] = b[c] + sum_{ki,kj} x[n,c,ih,iw] w[c,ki,kj]
//   gx        gx[n,c,ih,iw] = sum of gy[n,c,oh,ow] w[c,ki,kj] over the
//             (oh, ow, ki, kj) that read (ih, iw)
//   gw        gw[c,ki,kj] = sum_{n,oh,ow} gy[n,c,oh,ow] x[n,c,ih,iw]
// Layout: x, y, gy, gx contiguous NCHW; w contiguous [C, 1, kh, kw]; one
// dtype T: f32, f64 or bf16 (bf16 loaded as float, forward and gx summed in
// float, gw in double as for f32, each output rounded to nearest even once).
// Launch: forward one thread per output element; gx one thread per INPUT
// element gathering its taps (a gather, so no atomics); gw in two passes: a
// grid of (position chunks, channels) where each block accumulates all taps
// of its channel over its chunk of (n, oh, ow) in double registers (3x3 and
// 5x5 unrolled at compile time, other sizes up to 7x7 through a local array)
// and reduces them with block_reduce, then one thread per (channel, tap)
// adds the chunks in order. Deterministic, no atomics. Index arithmetic is
// 32-bit whenever the tensors have fewer than 2^30 elements (always, at the
// model's sizes; the margin keeps sums like begin + chunk from overflowing):
// 64-bit divisions would cost more than the taps themselves.
// Outputs: y, gx, gw overwritten.
#include "core/cuda/launch.h"
#include "ops/cuda/block_reduce.cuh"
#include "ops/cuda/conv2d_paths.h"

namespace sono::cuda::conv {

namespace {

// The geometry by value for kernels, in the index type I (int or int64_t).
template <class I>
struct Dw {
  I n, c, h, w, ho, wo, kh, kw, sh, sw, pt, pl, dh, dw;
};

template <class I>
Dw<I> dw_of(const Geometry& g) {
  return {I(g.n),  I(g.cin), I(g.h),  I(g.w),  I(g.ho), I(g.wo), I(g.kh),
          I(g.kw), I(g.sh),  I(g.sw), I(g.pt), I(g.pl), I(g.dh), I(g.dw)};
}

// Calls f(Dw<I>{...}) with I = int when every tensor index is below 2^30, else int64_t.
template <class F>
void with_index_type(const Geometry& g, F&& f) {
  const int64_t largest = std::max(g.n * g.cin * g.h * g.w, g.n * g.cin * g.ho * g.wo);
  if (largest < (int64_t(1) << 30)) f(dw_of<int>(g));
  else f(dw_of<int64_t>(g));
}

template <class T, class I, class C = compute_t<T>>
struct Forward {
  const T* x;
  const T* w;
  const T* bias;  // may be null
  T* y;
  Dw<I> g;
  __device__ void operator()(int64_t index) const {
    const I i = I(index);
    I t = i / g.wo;
    const I ow = i - t * g.wo, oh = t % g.ho;
    t /= g.ho;
    const I c = t % g.c;
    const T* plane = x + t * g.h * g.w;  // t = n * C + c
    const T* wc = w + c * g.kh * g.kw;
    const I ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
    C acc = bias ? C(bias[c]) : C(0);
    for (I ki = 0; ki < g.kh; ++ki) {
      const I ih = ih0 + ki * g.dh;
      if (ih < 0 || ih >= g.h) continue;
      for (I kj = 0; kj < g.kw; ++kj) {
        const I iw = iw0 + kj * g.dw;
        if (iw >= 0 && iw < g.w) acc += C(plane[ih * g.w + iw]) * C(wc[ki * g.kw + kj]);
      }
    }
    y[index] = scalar_cast<T>(acc);
  }
};

template <class T, class I, class C = compute_t<T>>
struct BackwardInput {
  const T* gy;
  const T* w;
  T* gx;
  Dw<I> g;
  __device__ void operator()(int64_t index) const {
    const I i = I(index);
    I t = i / g.w;
    const I iw = i - t * g.w, ih = t % g.h;
    t /= g.h;
    const I c = t % g.c;
    const T* plane = gy + t * g.ho * g.wo;
    const T* wc = w + c * g.kh * g.kw;
    C acc = C(0);
    for (I ki = 0; ki < g.kh; ++ki) {
      const I th = ih + g.pt - ki * g.dh;  // = oh * sh for the output reading (ih, iw) through tap ki
      if (th < 0) break;                   // decreases with ki
      if (th % g.sh) continue;
      const I oh = th / g.sh;
      if (oh >= g.ho) continue;
      for (I kj = 0; kj < g.kw; ++kj) {
        const I tw = iw + g.pl - kj * g.dw;
        if (tw < 0) break;
        if (tw % g.sw) continue;
        const I ow = tw / g.sw;
        if (ow < g.wo) acc += C(plane[oh * g.wo + ow]) * C(wc[ki * g.kw + kj]);
      }
    }
    gx[index] = scalar_cast<T>(acc);
  }
};

// Block (chunk, c): partial[(c * chunks + chunk) * taps + tap] = sum over the
// chunk's positions of gy * x for that tap. KH = KW = 0: runtime filter size.
template <class T, class I, int KH, int KW>
__global__ void weight_partial_kernel(const T* x, const T* gy, Dw<I> g, I chunk_len, double* partial) {
  constexpr bool kFixed = KH > 0;
  constexpr int kTaps = kFixed ? KH * KW : int(kDepthwiseMaxTaps);
  const int kh = kFixed ? KH : int(g.kh), kw = kFixed ? KW : int(g.kw), taps = kh * kw;
  const I c = I(blockIdx.y), chunk = I(blockIdx.x);
  double acc[kTaps];
#pragma unroll
  for (int t = 0; t < kTaps; ++t) acc[t] = 0;
  const I positions = g.n * g.ho * g.wo, begin = chunk * chunk_len;
  const I end = begin + chunk_len < positions ? begin + chunk_len : positions;
  for (I p = begin + I(threadIdx.x); p < end; p += I(blockDim.x)) {
    const I q = p / g.wo;
    const I ow = p - q * g.wo, oh = q % g.ho, n = q / g.ho;
    const I plane_index = n * g.c + c;
    const double gv = double(gy[(plane_index * g.ho + oh) * g.wo + ow]);
    const T* plane = x + plane_index * g.h * g.w;
    const I ih0 = oh * g.sh - g.pt, iw0 = ow * g.sw - g.pl;
#pragma unroll
    for (int ki = 0; ki < (kFixed ? KH : int(kDepthwiseMaxSide)); ++ki) {
      if (!kFixed && ki >= kh) break;
      const I ih = ih0 + ki * g.dh;
      if (ih < 0 || ih >= g.h) continue;
#pragma unroll
      for (int kj = 0; kj < (kFixed ? KW : int(kDepthwiseMaxSide)); ++kj) {
        if (!kFixed && kj >= kw) break;
        const I iw = iw0 + kj * g.dw;
        if (iw >= 0 && iw < g.w) acc[ki * kw + kj] += gv * double(plane[ih * g.w + iw]);
      }
    }
  }
  double* out = partial + (c * gridDim.x + chunk) * taps;
#pragma unroll
  for (int t = 0; t < kTaps; ++t) {
    if (t >= taps) break;  // uniform over the block
    const double s = block_sum(acc[t]);
    if (threadIdx.x == 0) out[t] = s;
  }
}

template <class T>
struct WeightFinal {
  const double* partial;
  int64_t chunks, taps;
  T* gw;
  __device__ void operator()(int64_t j) const {  // j = c * taps + tap
    const int64_t c = j / taps, tap = j - c * taps;
    double s = 0;
    for (int64_t k = 0; k < chunks; ++k) s += partial[(c * chunks + k) * taps + tap];
    gw[j] = scalar_cast<T>(s);
  }
};

// Positions per block of the weight-gradient pass: at least 16 per thread,
// and at most 64 chunks per channel for the final pass to add.
int64_t weight_chunk_len(int64_t positions) { return std::max<int64_t>(16 * kBlockSize, (positions + 63) / 64); }

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void depthwise_forward(const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y) {
  dispatch_real(x.dtype(), "conv2d", [&](auto tag) {
    using T = SONO_TYPE(tag);
    with_index_type(g, [&](auto d) {
      using I = decltype(d.n);
      parallel_for(x.device().index, y.numel(),
                   Forward<T, I>{x.data<T>(), w.data<T>(), data_or_null<T>(bias), y.data<T>(), d});
    });
  });
}

void depthwise_backward_input(const Geometry& g, const Tensor& gy, const Tensor& w, const Tensor& gx) {
  dispatch_real(gy.dtype(), "conv2d_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    with_index_type(g, [&](auto d) {
      using I = decltype(d.n);
      parallel_for(gy.device().index, gx.numel(), BackwardInput<T, I>{gy.data<T>(), w.data<T>(), gx.data<T>(), d});
    });
  });
}

void depthwise_backward_weight(const Geometry& g, const Tensor& x, const Tensor& gy, const Tensor& gw) {
  const int device = gy.device().index;
  const int64_t taps = g.kh * g.kw, positions = g.n * g.ho * g.wo;
  const int64_t chunk_len = weight_chunk_len(positions), chunks = (positions + chunk_len - 1) / chunk_len;
  dispatch_real(gy.dtype(), "conv2d_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    Tensor partial = Tensor::empty({g.cin, chunks, taps}, DType::F64, gy.device());
    const dim3 grid(unsigned(chunks), unsigned(g.cin));
    const T *xp = x.data<T>(), *gp = gy.data<T>();
    double* pp = partial.data<double>();
    DeviceGuard guard(device);
    cudaStream_t stream = current_stream(device);
    with_index_type(g, [&](auto d) {
      using I = decltype(d.n);
      const I len = I(chunk_len);
      if (g.kh == 3 && g.kw == 3)
        weight_partial_kernel<T, I, 3, 3><<<grid, kBlockSize, 0, stream>>>(xp, gp, d, len, pp);
      else if (g.kh == 5 && g.kw == 5)
        weight_partial_kernel<T, I, 5, 5><<<grid, kBlockSize, 0, stream>>>(xp, gp, d, len, pp);
      else weight_partial_kernel<T, I, 0, 0><<<grid, kBlockSize, 0, stream>>>(xp, gp, d, len, pp);
      SONO_CUDA_CHECK_LAUNCH();
    });
    parallel_for(device, g.cin * taps, WeightFinal<T>{pp, chunks, taps, gw.data<T>()});
  });
}

}  // namespace sono::cuda::conv
