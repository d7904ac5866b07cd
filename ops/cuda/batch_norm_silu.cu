// Batch norm + SiLU on a cuda device (see ops/batch_norm_silu.h), the same
// arithmetic as ops/cpu/batch_norm_silu.cpp, built from the batch norm
// kernels of ops/cuda/norm_planes.cuh.
//
// Math (SiLU and its derivative from ops/math.h):
//   forward   batch norm statistics (one pass of plane sums when training),
//             then y = silu((x - T(mean)) * T(w * invstd) + T(b)); z is never stored.
//   backward  per plane, one block: z recomputed from x and the saved
//             statistics, gz = gy * silu'(z) written into gx, sums
//             {sum gz, sum gz * (x - mean)}; then batch norm's backward from
//             those sums with gz as the output gradient, gx finished in place.
// Layout: x, y, gy, gx contiguous [N, C, S...]; weight, bias, running stats,
// save_mean, save_invstd contiguous [C] (weight, bias, running stats may be
// undefined). Deterministic, no atomics (fixed-order block_reduce).
// Outputs: y, gx, gweight, gbias, save_mean, save_invstd are overwritten;
// running_mean/running_var are updated in place (training).
#include "ops/batch_norm_silu.h"
#include "ops/cuda/norm_planes.cuh"

namespace sono::cuda {

using namespace norm;

namespace {

template <class T>
__global__ void silu_grad_plane_sums_kernel(const T* x, const T* gy, const T* weight, const T* bias, const T* save_mean,
                                            const T* save_invstd, Keys keys, int64_t planes, T* gz, double* sums) {
  const int64_t S = keys.plane_size;
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {  // uniform per block: block_reduce is safe
    const int64_t c = p % keys.channels;
    const T m = save_mean[c];
    const T a = T((weight ? double(weight[c]) : 1.0) * double(save_invstd[c])), b = bias ? bias[c] : T(0);
    const double md = double(m);
    const T* xs = x + p * S;
    const T* gs = gy + p * S;
    double sa = 0, sb = 0;
    for (int64_t i = threadIdx.x; i < S; i += blockDim.x) {
      const T g = gs[i] * math::silu_grad((xs[i] - m) * a + b);
      if (gz) gz[p * S + i] = g;
      sa += double(g);
      sb += double(g) * (double(xs[i]) - md);
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
  dispatch_float(x.dtype(), "batch_norm_silu", [&](auto tag) {
    using T = SONO_TYPE(tag);
    Tensor stats =
        batch_norm_statistics<T>(x, running_mean, running_var, training, momentum, eps, save_mean, save_invstd);
    normalize_forward<T, true>(x, weight, bias, batch_keys(x), stats, y);
  });
}

void batch_norm_silu_backward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& save_mean,
                              const Tensor& save_invstd, const Tensor& gy, bool training, const Tensor& gx,
                              const Tensor& gweight, const Tensor& gbias) {
  const Keys keys = batch_keys(x);
  const int device = x.device().index;
  const int64_t planes = x.size(0) * keys.channels;
  dispatch_float(x.dtype(), "batch_norm_silu_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    Tensor sums = f64_buffer(2 * planes, x);
    T* gz = gx.defined() ? gx.data<T>() : nullptr;  // gz lives in gx until batch norm's input gradient
    {
      DeviceGuard guard(device);
      const unsigned blocks = unsigned(std::min<int64_t>(planes, kMaxBlocks));
      silu_grad_plane_sums_kernel<T><<<blocks, kBlockSize, 0, current_stream(device)>>>(
          x.data<T>(), gy.data<T>(), data_or_null<T>(weight), data_or_null<T>(bias), save_mean.data<T>(),
          save_invstd.data<T>(), keys, planes, gz, sums.data<double>());
      SONO_CUDA_CHECK_LAUNCH();
    }
    normalize_backward_from_sums<T>(x, weight, save_mean, save_invstd, gz, training, keys, keys.channels,
                                    double(x.size(0) * keys.plane_size), sums, true, gx, gweight, gbias);
  });
}

}  // namespace sono::cuda
