// Global average pooling on a cuda device (see ops/pool.h).
//
// Math: forward  y[p] = T(sum_i x[p, i] / HW), summed in double
//       backward gx[p, i] = T(gy[p] / HW)
// for every plane p = (n, c) of HW = H*W elements.
// Layout: x, gx contiguous [N, C, H, W]; y, gy contiguous [N, C, 1, 1]; f32,
// f64 or bf16 (T(.) then rounds to nearest even).
// Launch: forward one block per plane (grid-stride over planes), each thread
// striding over the plane and a fixed-order block_reduce (deterministic);
// backward one grid-stride loop over the elements of gx.
// Outputs: y and gx are overwritten.
#include "core/cuda/launch.h"
#include "ops/cuda/block_reduce.cuh"
#include "ops/pool.h"

namespace sono::cuda {

namespace {

template <class T>
__global__ void plane_mean_kernel(const T* x, int64_t planes, int64_t hw, T* y) {
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {  // uniform per block: block_reduce is safe
    const T* src = x + p * hw;
    double s = 0;
    for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) s += double(src[i]);
    s = block_sum(s);
    if (threadIdx.x == 0) y[p] = scalar_cast<T>(s / double(hw));
  }
}

template <class T>
struct SpreadMean {
  const T* gy;
  T* gx;
  int64_t hw;
  __device__ void operator()(int64_t i) const { gx[i] = scalar_cast<T>(double(gy[i / hw]) / double(hw)); }
};

}  // namespace

void global_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  const int device = x.device().index;
  const int64_t planes = x.size(0) * x.size(1), hw = x.size(2) * x.size(3);
  dispatch_real(x.dtype(), "global_avg_pool2d", [&](auto tag) {
    using T = SONO_TYPE(tag);
    DeviceGuard guard(device);
    const unsigned blocks = unsigned(std::min<int64_t>(planes, kMaxBlocks));
    plane_mean_kernel<T><<<blocks, kBlockSize, 0, current_stream(device)>>>(x.data<T>(), planes, hw, y.data<T>());
    SONO_CUDA_CHECK_LAUNCH();
  });
}

void global_avg_pool2d_backward(const Tensor& gy, const Tensor& gx) {
  const int64_t hw = gx.size(2) * gx.size(3);
  dispatch_real(gy.dtype(), "global_avg_pool2d_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(gx.device().index, gx.numel(), SpreadMean<T>{gy.data<T>(), gx.data<T>(), hw});
  });
}

}  // namespace sono::cuda
