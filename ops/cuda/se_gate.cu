// Squeeze-excitation gate on a cuda device (see ops/se_gate.h).
//
// Math (ops/math.h's sigmoid, shared with the CPU kernel):
//   forward   out = x * sigmoid(s[p])                   p = i / S, the plane
//   backward  gx = gy * sigmoid(s[p]);  gs[p] = sigmoid'(s[p]) * sum_plane(gy * x)
// Layout: x, out, gy, gx contiguous [N, C, S...]; s, gs N*C contiguous values;
// f32, f64 or bf16 (loaded as float, the gate in float, stored rounded to
// nearest even).
// Launch: forward one grid-stride loop (plane index in 32 bits when the tensor
// is small enough, parallel_for_grouped); backward one block per plane, the
// sum in double through the fixed-order block_reduce (deterministic, no
// atomics).
// Outputs: out, gx and gs are overwritten.
#include "ops/cuda/block_reduce.cuh"
#include "ops/cuda/grouped_elements.cuh"
#include "ops/math.h"
#include "ops/se_gate.h"

namespace sono::cuda {

namespace {

template <class T>
struct Forward {  // element i of plane p
  const T* x;
  const T* s;
  T* out;
  __device__ void operator()(int64_t i, int64_t p) const {
    using C = compute_t<T>;
    out[i] = scalar_cast<T>(C(x[i]) * math::sigmoid(C(s[p])));
  }
};

template <class T>
__global__ void backward_kernel(const T* x, const T* s, const T* gy, int64_t planes, int64_t S, T* gx, T* gs) {
  for (int64_t p = blockIdx.x; p < planes; p += gridDim.x) {  // uniform per block: block_reduce is safe
    using C = compute_t<T>;
    const C gate = math::sigmoid(C(s[p]));
    const T* xs = x + p * S;
    const T* gp = gy + p * S;
    double sum = 0;
    for (int64_t i = threadIdx.x; i < S; i += blockDim.x) {
      if (gx) gx[p * S + i] = scalar_cast<T>(C(gp[i]) * gate);
      sum += double(gp[i]) * double(xs[i]);
    }
    sum = block_sum(sum);
    if (gs && threadIdx.x == 0) gs[p] = scalar_cast<T>(C(sum) * math::sigmoid_grad_from_output(gate));
  }
}

}  // namespace

void se_gate_forward(const Tensor& x, const Tensor& s, const Tensor& out) {
  dispatch_real(x.dtype(), "se_gate", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for_grouped(x.device().index, x.numel(), x.numel() / s.numel(),
                         Forward<T>{x.data<T>(), s.data<T>(), out.data<T>()});
  });
}

void se_gate_backward(const Tensor& x, const Tensor& s, const Tensor& gy, const Tensor& gx, const Tensor& gs) {
  const int device = x.device().index;
  const int64_t planes = s.numel(), S = x.numel() / planes;
  dispatch_real(x.dtype(), "se_gate_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    DeviceGuard guard(device);
    const unsigned blocks = unsigned(std::min<int64_t>(planes, kMaxBlocks));
    backward_kernel<T><<<blocks, kBlockSize, 0, current_stream(device)>>>(
        x.data<T>(), s.data<T>(), gy.data<T>(), planes, S, gx.defined() ? gx.data<T>() : nullptr,
        gs.defined() ? gs.data<T>() : nullptr);
    SONO_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace sono::cuda
