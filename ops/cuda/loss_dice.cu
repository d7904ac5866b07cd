// SMP multiclass Dice on logits [B, C, H*W] on a cuda device (see ops/loss.h),
// the same arithmetic as ops/cpu/loss_dice.cpp.
//
// Math: per pixel k, lse_k = T(m_k + log sum_c exp(z_ck - m_k)) (exponentials
// in the tensor dtype, summed in double), p_ck = exp(z_ck - lse_k), t_ck = [y_k == c].
//   forward   stats_c = {sum p t, sum p, sum t} over batch and pixels (double),
//             loss = (1/C) sum_c dice_class_loss(stats_c)          (ops/math.h)
//   backward  a_c, b_c = dice_class_loss_grad(stats_c) * grad_loss / C,
//             G_ck = a_c t_ck + b_c, w_k = sum_c p_ck G_ck,
//             g_ck = T(p_ck (G_ck - w_k))
// Layout: logits, grad_logits contiguous [B, C, HW]; target contiguous i64
// [B, HW]; stats contiguous f64 [C, 3]. Logits, loss and grads f32, f64 or
// bf16 (bf16: "the tensor dtype" above is float, lse kept in float, the
// outputs rounded to nearest even).
// Launch: forward = per-pixel lse (grid-stride), then a grid of (blocks, C):
// block (x, c) sums class c over a fixed pixel range into a partial, then one
// block combines the partials per class in order and writes stats and loss
// (deterministic, no atomics). Backward = a C-thread kernel for (a_c, b_c),
// then one thread per pixel looping over the classes (coalesced over pixels).
// Outputs: stats, loss, grad_logits are overwritten.
#include "core/cuda/launch.h"
#include "ops/cuda/block_reduce.cuh"
#include "ops/loss.h"
#include "ops/math.h"

namespace sono::cuda {

namespace {

// Pixel p = b * HW + k of logits [B, C, HW] starts at zb[k] with
// zb = z + b * C * HW; classes are HW apart.
struct Geometry {
  int64_t classes, pixels;  // C, HW
  __device__ int64_t base(int64_t p) const {
    const int64_t b = p / pixels;
    return b * classes * pixels + (p - b * pixels);
  }
};

template <class T, class C = compute_t<T>>
__device__ C pixel_log_sum_exp(const T* z, int64_t classes, int64_t stride) {
  C m = C(z[0]);
  for (int64_t c = 1; c < classes; ++c) m = C(z[c * stride]) > m ? C(z[c * stride]) : m;
  double s = 0;
  for (int64_t c = 0; c < classes; ++c) s += double(exp(C(z[c * stride]) - m));
  return C(double(m) + log(s));
}

template <class T>
struct PixelLogSumExp {
  const T* z;
  Geometry geo;
  compute_t<T>* lse;
  __device__ void operator()(int64_t p) const { lse[p] = pixel_log_sum_exp(z + geo.base(p), geo.classes, geo.pixels); }
};

// Block (x, c): partial[(c * gridDim.x + x) * 3 + {0,1,2}] = {sum p t, sum p, sum t}
// over the pixels p = x * kBlockSize + t, stepping by the grid.
template <class T>
__global__ void class_sums_partial(const T* z, const int64_t* y, const compute_t<T>* lse, Geometry geo,
                                   int64_t n_pixels, double* partial) {
  using C = compute_t<T>;
  const int64_t c = blockIdx.y;
  double spt = 0, sp = 0, st = 0;
  const int64_t step = int64_t(blockDim.x) * gridDim.x;
  for (int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; p < n_pixels; p += step) {
    const double prob = double(C(exp(C(z[geo.base(p) + c * geo.pixels]) - lse[p])));
    const bool hit = y[p] == c;
    sp += prob;
    spt += hit ? prob : 0.0;
    st += hit ? 1.0 : 0.0;
  }
  spt = block_sum(spt);
  sp = block_sum(sp);
  st = block_sum(st);
  if (threadIdx.x == 0) {
    double* out = partial + (c * gridDim.x + blockIdx.x) * 3;
    out[0] = spt;
    out[1] = sp;
    out[2] = st;
  }
}

// One block: thread c adds class c's partials in block order into stats, then
// thread 0 adds the class losses in class order.
template <class T>
__global__ void class_sums_final(const double* partial, int64_t blocks, int64_t classes, double smooth, double eps,
                                 double* stats, T* loss) {
  for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) {
    double s[3] = {0, 0, 0};
    for (int64_t x = 0; x < blocks; ++x)
      for (int j = 0; j < 3; ++j) s[j] += partial[(c * blocks + x) * 3 + j];
    for (int j = 0; j < 3; ++j) stats[c * 3 + j] = s[j];
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = 0;
    for (int64_t c = 0; c < classes; ++c)
      total += math::dice_class_loss(stats[3 * c], stats[3 * c + 1], stats[3 * c + 2], smooth, eps);
    loss[0] = scalar_cast<T>(total / double(classes));
  }
}

// coef[2c], coef[2c+1] = a_c, b_c.
template <class T>
struct ClassCoefficients {
  const double* stats;
  const T* grad_loss;
  int64_t classes;
  double smooth, eps;
  double* coef;
  __device__ void operator()(int64_t c) const {
    const double scale = double(grad_loss[0]) / double(classes);
    double a, b;
    math::dice_class_loss_grad(stats[3 * c], stats[3 * c + 1], stats[3 * c + 2], smooth, eps, &a, &b);
    coef[2 * c] = a * scale;
    coef[2 * c + 1] = b * scale;
  }
};

template <class T>
struct PixelGrad {
  const T* z;
  const int64_t* y;
  const double* coef;
  Geometry geo;
  T* g;
  __device__ void operator()(int64_t p) const {
    using C = compute_t<T>;
    const int64_t base = geo.base(p), stride = geo.pixels, yk = y[p];
    const C lse = pixel_log_sum_exp(z + base, geo.classes, stride);
    double weighted = 0;  // sum_c p_c G_c
    for (int64_t c = 0; c < geo.classes; ++c) {
      const C prob = exp(C(z[base + c * stride]) - lse);
      weighted += double(prob) * (coef[2 * c + 1] + (yk == c ? coef[2 * c] : 0.0));
    }
    for (int64_t c = 0; c < geo.classes; ++c) {
      const C prob = exp(C(z[base + c * stride]) - lse);
      g[base + c * stride] =
          scalar_cast<T>(double(prob) * (coef[2 * c + 1] + (yk == c ? coef[2 * c] : 0.0) - weighted));
    }
  }
};

Geometry geometry(const Tensor& logits) {
  const int64_t C = logits.size(1);
  return {C, logits.numel() / (logits.size(0) * C)};
}

}  // namespace

void dice_loss_forward(const Tensor& logits, const Tensor& target, double smooth, double eps, const Tensor& stats,
                       const Tensor& loss) {
  const Geometry geo = geometry(logits);
  const int64_t n_pixels = logits.size(0) * geo.pixels;
  const int device = logits.device().index;
  const int64_t blocks = reduce_blocks(n_pixels);
  SONO_CHECK(geo.classes <= 65535, "dice_loss", "the CUDA kernel handles up to 65535 classes, got logits ",
             logits.describe());
  dispatch_real(logits.dtype(), "dice_loss", [&](auto tag) {
    using T = SONO_TYPE(tag);
    using C = compute_t<T>;
    const T* z = logits.data<T>();
    Tensor lse = Tensor::empty({n_pixels}, dtype_of<C>::value, logits.device());
    Tensor partial = Tensor::empty({geo.classes, blocks, 3}, DType::F64, logits.device());
    parallel_for(device, n_pixels, PixelLogSumExp<T>{z, geo, lse.data<C>()});
    DeviceGuard guard(device);
    cudaStream_t stream = current_stream(device);
    class_sums_partial<T><<<dim3(unsigned(blocks), unsigned(geo.classes)), kBlockSize, 0, stream>>>(
        z, target.data<int64_t>(), lse.data<C>(), geo, n_pixels, partial.data<double>());
    SONO_CUDA_CHECK_LAUNCH();
    class_sums_final<T><<<1, kBlockSize, 0, stream>>>(partial.data<double>(), blocks, geo.classes, smooth, eps,
                                                      stats.data<double>(), loss.data<T>());
    SONO_CUDA_CHECK_LAUNCH();
  });
}

void dice_loss_backward(const Tensor& logits, const Tensor& target, const Tensor& stats, double smooth, double eps,
                        const Tensor& grad_loss, const Tensor& grad_logits) {
  const Geometry geo = geometry(logits);
  const int device = logits.device().index;
  dispatch_real(logits.dtype(), "dice_loss_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    Tensor coef = Tensor::empty({geo.classes, 2}, DType::F64, logits.device());
    parallel_for(
        device, geo.classes,
        ClassCoefficients<T>{stats.data<double>(), grad_loss.data<T>(), geo.classes, smooth, eps, coef.data<double>()});
    parallel_for(
        device, logits.size(0) * geo.pixels,
        PixelGrad<T>{logits.data<T>(), target.data<int64_t>(), coef.data<double>(), geo, grad_logits.data<T>()});
  });
}

}  // namespace sono::cuda
