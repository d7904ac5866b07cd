#pragma once
// The pieces of the CUDA normalization kernels that ops/cuda/norm.cu (batch
// and group norm) and ops/cuda/batch_norm_silu.cu share; the math, layout and
// launch scheme are described at the top of ops/cuda/norm.cu. .cu files only.
//
// dtypes: x, y, gy, gx are T (f32, f64 or bf16); every per-channel value
// (weight, bias, running and saved statistics, their gradients) is P =
// compute_t<T>: f32 beside a bf16 x (docs/precision.md), else T. The
// element-wise passes compute in P and store T rounded to nearest even.
#include <utility>
#include <vector>

#include "core/cuda/launch.h"
#include "core/kernels.h"
#include "ops/cuda/block_reduce.cuh"
#include "ops/math.h"

namespace sono::cuda::norm {

// Plane p -> its statistics key, and the key's first element (the shift).
struct Keys {
  int64_t channels, per_group, plane_size;  // C, D, S
  bool group;                               // group norm (key p / D) or batch norm (key p % C)
  __host__ __device__ int64_t key(int64_t p) const { return group ? p / per_group : p % channels; }
  // x[0, c, 0] for batch norm; the group's first value for group norm.
  __device__ int64_t first(int64_t k) const { return group ? k * per_group * plane_size : k * plane_size; }
};

// Optional tensors (no affine, no running stats, gradients not wanted) -> null.
template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// The per-channel tensors of one call in the dtype the kernels read (P): a
// bf16 one beside a bf16 x (allowed next to f32 ones) gets an f32 stand-in,
// widened before the kernels; outputs and in-place statistics are rounded
// back by finish(). Any other dtype mix is an error naming the tensor.
class ChannelArgs {
 public:
  ChannelArgs(const Tensor& x, const char* op)
      : x_(x), op_(op), want_(x.dtype() == DType::BF16 ? DType::F32 : x.dtype()) {}
  Tensor in(const Tensor& t, const char* what) {
    if (!t.defined() || t.dtype() == want_) return t;
    SONO_CHECK(x_.dtype() == DType::BF16 && t.dtype() == DType::BF16, op_, what, " ", t.describe(),
               " must have the dtype of input ", x_.describe(), x_.dtype() == DType::BF16 ? " or f32" : "");
    Tensor w = Tensor::empty(t.shape(), want_, t.device());
    kernels::copy(w, t);
    return w;
  }
  Tensor out(const Tensor& t, const char* what) {
    Tensor w = in(t, what);
    if (t.defined() && w.raw_data() != t.raw_data()) stores_.emplace_back(t, w);
    return w;
  }
  void finish() {
    for (auto& [t, w] : stores_) kernels::copy(t, w);
  }

 private:
  const Tensor& x_;
  const char* op_;
  DType want_;
  std::vector<std::pair<Tensor, Tensor>> stores_;
};

// grad = false: sums[2p..] = {sum (x - k0), sum (x - k0)^2}.
// grad = true:  sums[2p..] = {sum gy, sum gy * (x - mean[key])}.
template <class T, bool grad, class P = compute_t<T>>
__global__ void plane_sums_kernel(const T* x, const T* gy, const P* mean, Keys keys, int64_t planes, double* sums) {
  const int64_t S = keys.plane_size;
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {  // uniform per block: block_reduce is safe
    const T* xs = x + p * S;
    const double k = grad ? double(mean[keys.key(p)]) : double(x[keys.first(keys.key(p))]);
    double a = 0, b = 0;
    if (grad) {
      const T* gs = gy + p * S;
      for (int64_t i = threadIdx.x; i < S; i += blockDim.x) {
        const double g = double(gs[i]);
        a += g;
        b += g * (double(xs[i]) - k);
      }
    } else {
      for (int64_t i = threadIdx.x; i < S; i += blockDim.x) {
        const double d = double(xs[i]) - k;
        a += d;
        b += d * d;
      }
    }
    a = block_sum(a);
    b = block_sum(b);
    if (threadIdx.x == 0) {
      sums[2 * p] = a;
      sums[2 * p + 1] = b;
    }
  }
}

template <class T, bool grad>
void plane_sums(const Tensor& x, const Tensor& gy, const Tensor& mean, const Keys& keys, const Tensor& sums) {
  const int device = x.device().index;
  const int64_t planes = x.size(0) * x.size(1);
  DeviceGuard guard(device);
  const unsigned blocks = unsigned(std::min<int64_t>(planes, kMaxBlocks));
  plane_sums_kernel<T, grad><<<blocks, kBlockSize, 0, current_stream(device)>>>(
      x.data<T>(), grad ? gy.data<T>() : nullptr, grad ? mean.data<compute_t<T>>() : nullptr, keys, planes,
      sums.data<double>());
  SONO_CUDA_CHECK_LAUNCH();
}

// ---- forward ----------------------------------------------------------------------

// Thread k: statistics of key k from its planes' sums. stats[2k..] = {mean, invstd}.
template <class T, class P = compute_t<T>>
struct KeyStats {
  const T* x;
  const double* sums;
  Keys keys;
  int64_t samples;  // N
  double count, eps, momentum;
  bool update_running;  // batch norm training
  P* running_mean;      // may be null
  P* running_var;       // may be null
  P* save_mean;
  P* save_invstd;
  double* stats;
  __device__ void operator()(int64_t k) const {
    double s1 = 0, s2 = 0;
    if (keys.group) {
      for (int64_t p = k * keys.per_group; p < (k + 1) * keys.per_group; ++p) s1 += sums[2 * p], s2 += sums[2 * p + 1];
    } else {
      for (int64_t n = 0; n < samples; ++n) {
        const int64_t p = n * keys.channels + k;
        s1 += sums[2 * p];
        s2 += sums[2 * p + 1];
      }
    }
    const double d = s1 / count, var = fmax(s2 / count - d * d, 0.0);
    const double mean = double(x[keys.first(k)]) + d, invstd = 1.0 / sqrt(var + eps);
    if (update_running) {
      if (running_mean) running_mean[k] = P((1.0 - momentum) * double(running_mean[k]) + momentum * mean);
      if (running_var)
        running_var[k] = P((1.0 - momentum) * double(running_var[k]) + momentum * var * count / (count - 1.0));
    }
    save_mean[k] = P(mean);
    save_invstd[k] = P(invstd);
    stats[2 * k] = mean;
    stats[2 * k + 1] = invstd;
  }
};

// Batch norm eval: statistics from the running buffers.
template <class P>
struct RunningStats {
  const P* running_mean;
  const P* running_var;
  double eps;
  P* save_mean;
  P* save_invstd;
  double* stats;
  __device__ void operator()(int64_t c) const {
    const double mean = double(running_mean[c]), invstd = 1.0 / sqrt(double(running_var[c]) + eps);
    save_mean[c] = P(mean);
    save_invstd[c] = P(invstd);
    stats[2 * c] = mean;
    stats[2 * c + 1] = invstd;
  }
};

// Element i's plane, channel and key; I = uint32_t when the tensor has fewer
// than 2^32 elements: 64-bit divisions would dominate these element-wise passes.
template <class I>
struct ElementKeys {
  I plane_size, channels, per_group;
  bool group;
  __device__ void locate(int64_t i, int64_t& c, int64_t& k) const {
    const I p = I(i) / plane_size;
    c = int64_t(p % channels);
    k = int64_t(group ? p / per_group : p % channels);
  }
};

template <class I>
ElementKeys<I> element_keys(const Keys& k) {
  return {I(k.plane_size), I(k.channels), I(k.per_group), k.group};
}

// Calls f(ElementKeys<I>) with the narrowest index type for x.
template <class F>
void with_element_keys(const Tensor& x, const Keys& keys, F&& f) {
  if (x.numel() <= int64_t(UINT32_MAX)) f(element_keys<uint32_t>(keys));
  else f(element_keys<uint64_t>(keys));
}

// y = (x - P(mean)) * P(w * invstd) + P(b), with the plane's key and channel;
// silu: y = silu of that (the fused ops/cuda/batch_norm_silu.cu).
template <class T, class I, bool silu, class P = compute_t<T>>
struct Normalize {
  const T* x;
  const P* weight;  // may be null
  const P* bias;    // may be null
  const double* stats;
  ElementKeys<I> keys;
  T* y;
  __device__ void operator()(int64_t i) const {
    int64_t c, k;
    keys.locate(i, c, k);
    const double w = weight ? double(weight[c]) : 1.0, b = bias ? double(bias[c]) : 0.0;
    const P z = (P(x[i]) - P(stats[2 * k])) * P(w * stats[2 * k + 1]) + P(b);
    y[i] = scalar_cast<T>(silu ? math::silu(z) : z);
  }
};

// ---- backward ---------------------------------------------------------------------

// Thread c: gbias[c] = sum_n a, gweight[c] = sum_n b * invstd[key].
template <class P>
struct ChannelGrads {
  const double* sums;
  const P* save_invstd;
  Keys keys;
  int64_t samples;
  P* gweight;            // may be null
  P* gbias;              // may be null
  double* channel_sums;  // [C, 2] = {sum_n a, sum_n b}, for batch norm's gx
  __device__ void operator()(int64_t c) const {
    double a = 0, b = 0, bw = 0;
    for (int64_t n = 0; n < samples; ++n) {
      const int64_t p = n * keys.channels + c;
      a += sums[2 * p];
      b += sums[2 * p + 1];
      bw += sums[2 * p + 1] * double(save_invstd[keys.key(p)]);
    }
    if (gbias) gbias[c] = P(a);
    // Batch norm multiplies the channel sum by invstd once, as the CPU does;
    // group norm scales each plane by its own group's invstd first.
    if (gweight) gweight[c] = P(keys.group ? bw : b * double(save_invstd[c]));
    channel_sums[2 * c] = a;
    channel_sums[2 * c + 1] = b;
  }
};

// Thread k: key k's (beta, gamma) of gx; alpha is per plane.
template <class P>
struct KeyInputCoefficients {
  const double* sums;          // per plane (group norm)
  const double* channel_sums;  // per channel (batch norm)
  const P* weight;             // may be null
  const P* save_invstd;
  Keys keys;
  double count;
  bool training;
  double* coef;  // [keys, 2]
  __device__ void operator()(int64_t k) const {
    const double inv = double(save_invstd[k]);
    if (!keys.group) {
      const double wi = (weight ? double(weight[k]) : 1.0) * inv;
      coef[2 * k] = training ? -wi * inv * inv * channel_sums[2 * k + 1] / count : 0.0;
      coef[2 * k + 1] = training ? -wi * channel_sums[2 * k] / count : 0.0;
      return;
    }
    double sum_h = 0, sum_h_xc = 0;
    for (int64_t p = k * keys.per_group; p < (k + 1) * keys.per_group; ++p) {
      const double w = weight ? double(weight[p % keys.channels]) : 1.0;
      sum_h += w * sums[2 * p];
      sum_h_xc += w * sums[2 * p + 1];
    }
    coef[2 * k] = -inv * inv * inv * sum_h_xc / count;
    coef[2 * k + 1] = -inv * sum_h / count;
  }
};

// The gradient at the normalized output, g(i, c) for element i of channel c:
// gy itself (batch and group norm); batch_norm_silu.cu recomputes it.
template <class T>
struct OutputGrad {
  const T* gy;
  __device__ compute_t<T> operator()(int64_t i, int64_t) const { return compute_t<T>(gy[i]); }
};

// gx = P(w*inv) * g + P(beta) * (x - P(mean)) + P(gamma)
template <class T, class I, class G, class P = compute_t<T>>
struct InputGrad {
  const T* x;
  G g;
  const P* weight;  // may be null
  const P* save_mean;
  const P* save_invstd;
  const double* coef;
  ElementKeys<I> keys;
  T* gx;
  __device__ void operator()(int64_t i) const {
    int64_t c, k;
    keys.locate(i, c, k);
    const double w = weight ? double(weight[c]) : 1.0;
    const P alpha = P(w * double(save_invstd[k])), beta = P(coef[2 * k]), gamma = P(coef[2 * k + 1]);
    const P m = P(double(save_mean[k]));
    gx[i] = scalar_cast<T>(alpha * g(i, c) + beta * (P(x[i]) - m) + gamma);
  }
};

inline Keys batch_keys(const Tensor& x) {
  const int64_t C = x.size(1);
  return {C, 1, x.numel() / (x.size(0) * C), false};
}
inline Keys group_keys(const Tensor& x, int64_t groups) {
  const int64_t C = x.size(1);
  return {C, C / groups, x.numel() / (x.size(0) * C), true};
}

inline Tensor f64_buffer(int64_t n, const Tensor& like) { return Tensor::empty({n}, DType::F64, like.device()); }

template <class T, bool silu = false, class P = compute_t<T>>
void normalize_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Keys& keys, const Tensor& stats,
                       const Tensor& y) {
  with_element_keys(x, keys, [&](auto ek) {
    using I = decltype(ek.plane_size);
    parallel_for(x.device().index, x.numel(),
                 Normalize<T, I, silu>{x.data<T>(), data_or_null<P>(weight), data_or_null<P>(bias),
                                       stats.data<double>(), ek, y.data<T>()});
  });
}

// The shared backward after the plane sums of g (the gradient at the
// normalized output, a functor g(i, c); `sums` as plane_sums<T, true> writes
// them): per-channel weight/bias gradients, key coefficients, then gx.
// `have_sums` is false only for batch norm eval without affine gradients.
template <class T, class G, class P = compute_t<T>>
void normalize_backward_from_sums(const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                                  const Tensor& save_invstd, G g, bool training, const Keys& keys, int64_t num_keys,
                                  double count, const Tensor& sums, bool have_sums, const Tensor& gx,
                                  const Tensor& gweight, const Tensor& gbias) {
  const int device = x.device().index;
  const int64_t N = x.size(0), C = x.size(1);
  Tensor channel_sums = f64_buffer(2 * C, x);
  if (have_sums)
    parallel_for(device, C,
                 ChannelGrads<P>{sums.data<double>(), save_invstd.data<P>(), keys, N, data_or_null<P>(gweight),
                                 data_or_null<P>(gbias), channel_sums.data<double>()});
  if (!gx.defined()) return;
  Tensor coef = f64_buffer(2 * num_keys, x);
  parallel_for(
      device, num_keys,
      KeyInputCoefficients<P>{sums.data<double>(), channel_sums.data<double>(), data_or_null<P>(weight),
                              save_invstd.data<P>(), keys, count, training || keys.group, coef.data<double>()});
  with_element_keys(x, keys, [&](auto ek) {
    using I = decltype(ek.plane_size);
    parallel_for(device, x.numel(),
                 InputGrad<T, I, G>{x.data<T>(), g, data_or_null<P>(weight), save_mean.data<P>(), save_invstd.data<P>(),
                                    coef.data<double>(), ek, gx.data<T>()});
  });
}

// The shared backward: plane sums of gy, then normalize_backward_from_sums.
template <class T>
void normalize_backward(const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                        const Tensor& gy, bool training, const Keys& keys, int64_t num_keys, double count,
                        const Tensor& gx, const Tensor& gweight, const Tensor& gbias) {
  const bool need_sums = training || keys.group || gweight.defined() || gbias.defined();
  Tensor sums = f64_buffer(2 * x.size(0) * x.size(1), x);
  if (need_sums) plane_sums<T, true>(x, gy, save_mean, keys, sums);
  normalize_backward_from_sums<T>(x, weight, save_mean, save_invstd, OutputGrad<T>{gy.data<T>()}, training, keys,
                                  num_keys, count, sums, need_sums, gx, gweight, gbias);
}

// Batch norm's statistics into save_mean / save_invstd and, as doubles, into
// the returned stats [C, 2] = {mean, invstd}: training from one pass of plane
// sums over x (and the running-stat update), eval from the running buffers.
template <class T, class P = compute_t<T>>
Tensor batch_norm_statistics(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, bool training,
                             double momentum, double eps, const Tensor& save_mean, const Tensor& save_invstd) {
  const Keys keys = batch_keys(x);
  const int64_t N = x.size(0), C = keys.channels;
  const int device = x.device().index;
  Tensor stats = f64_buffer(2 * C, x);
  if (training) {
    Tensor sums = f64_buffer(2 * N * C, x);
    plane_sums<T, false>(x, Tensor(), Tensor(), keys, sums);
    parallel_for(device, C,
                 KeyStats<T>{x.data<T>(), sums.data<double>(), keys, N, double(N * keys.plane_size), eps, momentum,
                             true, data_or_null<P>(running_mean), data_or_null<P>(running_var), save_mean.data<P>(),
                             save_invstd.data<P>(), stats.data<double>()});
  } else {
    parallel_for(device, C,
                 RunningStats<P>{running_mean.data<P>(), running_var.data<P>(), eps, save_mean.data<P>(),
                                 save_invstd.data<P>(), stats.data<double>()});
  }
  return stats;
}

// batch_norm_forward and batch_norm_silu_forward (silu = true): the dtype
// dispatch, the per-channel stand-ins, the statistics and the normalizing pass.
template <bool silu>
void batch_norm_forward_any(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const Tensor& running_mean, const Tensor& running_var, bool training, double momentum,
                            double eps, const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd) {
  ChannelArgs ch(x, op);
  const Tensor w = ch.in(weight, "weight"), b = ch.in(bias, "bias");
  const Tensor rm = ch.out(running_mean, "running_mean"), rv = ch.out(running_var, "running_var");
  const Tensor sm = ch.out(save_mean, "save_mean"), si = ch.out(save_invstd, "save_invstd");
  dispatch_real(x.dtype(), op, [&](auto tag) {
    using T = SONO_TYPE(tag);
    Tensor stats = batch_norm_statistics<T>(x, rm, rv, training, momentum, eps, sm, si);
    normalize_forward<T, silu>(x, w, b, batch_keys(x), stats, y);
  });
  ch.finish();
}

}  // namespace sono::cuda::norm
