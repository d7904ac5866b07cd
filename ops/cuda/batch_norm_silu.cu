// Batch norm + SiLU on a cuda device (see ops/batch_norm_silu.h), the same
// arithmetic as ops/cpu/batch_norm_silu.cpp, built from the batch norm
// kernels of ops/cuda/norm_planes.cuh.
//
// Math (SiLU and its derivative from ops/math.h):
//   forward   batch norm statistics (one pass of plane sums when training),
//             then y = silu((x - P(mean)) * P(w * invstd) + P(b)); z is never stored.
//   backward  per plane, one block: z recomputed from x and the saved
//             statistics, gz = gy * silu'(z), sums {sum gz, sum gz * (x - mean)};
//             then batch norm's backward from those sums with gz as the
//             output gradient, gz recomputed once more per element (never
//             stored: the same value, one tensor less written and read).
// Layout: x, y, gy, gx contiguous [N, C, S...]; weight, bias, running stats,
// save_mean, save_invstd contiguous [C] (weight, bias, running stats may be
// undefined). dtypes as ops/cuda/norm.cu: T for x, y, gy, gx; P =
// compute_t<T> for the per-channel values and the math. Deterministic, no
// atomics (fixed-order block_reduce).
// Outputs: y, gx, gweight, gbias, save_mean, save_invstd are overwritten;
// running_mean/running_var are updated in place (training).
#include "ops/batch_norm_silu.h"
#include "ops/cuda/norm_planes.cuh"

namespace sono::cuda {

using namespace norm;

namespace {

// gz = gy * silu'(z), z = (x - P(mean)) * P(w * invstd) + P(b) of channel c:
// the one expression both passes evaluate.
template <class T, class P = compute_t<T>>
struct SiluOutputGrad {
  const T* x;
  const T* gy;
  const P* weight;  // may be null
  const P* bias;    // may be null
  const P* save_mean;
  const P* save_invstd;
  __device__ P operator()(int64_t i, int64_t c) const {
    const P a = P((weight ? double(weight[c]) : 1.0) * double(save_invstd[c])), b = bias ? bias[c] : P(0);
    return P(gy[i]) * math::silu_grad((P(x[i]) - save_mean[c]) * a + b);
  }
};

template <class T, class P = compute_t<T>>
__global__ void silu_grad_plane_sums_kernel(SiluOutputGrad<T> g, Keys keys, int64_t planes, double* sums) {
  const int64_t S = keys.plane_size;
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {  // uniform per block: block_reduce is safe
    const int64_t c = p % keys.channels;
    const double md = double(g.save_mean[c]);
    double sa = 0, sb = 0;
    for (int64_t i = p * S + threadIdx.x; i < (p + 1) * S; i += blockDim.x) {
      const double gz = double(g(i, c));
      sa += gz;
      sb += gz * (double(g.x[i]) - md);
    }
    sa = block_sum(sa);
    sb = block_sum(sb);
    if (threadIdx.x == 0) {
      sums[2 * p] = sa;
      sums[2 * p + 1] = sb;
    }
  }
}

}  // namespace

void batch_norm_silu_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y,
                             const Tensor& save_mean, const Tensor& save_invstd) {
  batch_norm_forward_any<true>("batch_norm_silu", x, weight, bias, running_mean, running_var, training, momentum, eps,
                               y, save_mean, save_invstd);
}

void batch_norm_silu_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& save_mean,
                              const Tensor& save_invstd, const Tensor& gy, bool training, const Tensor& gx,
                              const Tensor& gweight, const Tensor& gbias) {
  const Keys keys = batch_keys(x);
  const int device = x.device().index;
  const int64_t planes = x.size(0) * keys.channels;
  ChannelArgs ch(x, "batch_norm_silu_backward");
  const Tensor w = ch.in(weight, "weight"), b = ch.in(bias, "bias");
  const Tensor sm = ch.in(save_mean, "save_mean"), si = ch.in(save_invstd, "save_invstd");
  const Tensor gw = ch.out(gweight, "grad_weight"), gb = ch.out(gbias, "grad_bias");
  dispatch_real(x.dtype(), "batch_norm_silu_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    using P = compute_t<T>;
    const SiluOutputGrad<T> g{x.data<T>(),        gy.data<T>(), data_or_null<P>(w),
                              data_or_null<P>(b), sm.data<P>(), si.data<P>()};
    Tensor sums = f64_buffer(2 * planes, x);
    {
      DeviceGuard guard(device);
      const unsigned blocks = unsigned(std::min<int64_t>(planes, kMaxBlocks));
      silu_grad_plane_sums_kernel<T>
          <<<blocks, kBlockSize, 0, current_stream(device)>>>(g, keys, planes, sums.data<double>());
      SONO_CUDA_CHECK_LAUNCH();
    }
    normalize_backward_from_sums<T>(x, w, sm, si, g, training, keys, keys.channels, double(x.size(0) * keys.plane_size),
                                    sums, true, gx, gw, gb);
  });
  ch.finish();
}

}  // namespace sono::cuda
