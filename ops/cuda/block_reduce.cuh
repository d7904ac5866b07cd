#pragma once
// Deterministic reductions for the op kernels (.cu files only).
//
// block_reduce combines one value per thread of a block of kBlockSize threads
// in a fixed tree (warp shuffles, then one warp over the warp results), so the
// result depends only on the inputs, never on scheduling. reduce_items runs
// the two-pass reduction of n items used by every "sum over everything" in
// the ops: pass 1 gives each block of a grid sized from n alone a partial,
// pass 2 (one block) combines the partials and hands the total to a functor
// that writes the output. No atomics anywhere, so reruns are bit-identical.
#include <algorithm>
#include <cstdint>

#include "core/cuda/launch.h"
#include "core/tensor.h"

namespace sono::cuda {

struct SumOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct MinOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return b < a ? b : a;
  }
};
struct MaxOp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a < b ? b : a;
  }
};

// Combines v over the block (blockDim.x == kBlockSize); every thread gets the
// result. Must be reached by all threads of the block.
template <class T, class Op>
__device__ T block_reduce(T v, Op op) {
  static_assert(kBlockSize % 32 == 0 && kBlockSize <= 1024 && ((kBlockSize / 32) & (kBlockSize / 32 - 1)) == 0,
                "block_reduce needs a power-of-two number of whole warps");
  __shared__ T warp_result[kBlockSize / 32];
  __shared__ T result;
  for (int offset = 16; offset > 0; offset /= 2) v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_result[warp] = v;
  __syncthreads();
  if (warp == 0) {
    constexpr int kWarps = kBlockSize / 32;
    v = lane < kWarps ? warp_result[lane] : warp_result[0];
    // Lanes past kWarps repeat warp 0's value; op(a, a) would double a sum,
    // so only the first kWarps lanes take part (kWarps is a power of two).
    for (int offset = kWarps / 2; offset > 0; offset /= 2) {
      T other = __shfl_down_sync(0xffffffffu, v, offset);
      if (lane < offset) v = op(v, other);
    }
    if (lane == 0) result = v;
  }
  __syncthreads();
  T out = result;
  __syncthreads();  // the shared slots may be reused by the next call
  return out;
}

template <class T>
__device__ T block_sum(T v) {
  return block_reduce(v, SumOp{});
}

// Pass 1: block b combines item(i) for i = b*kBlockSize + t, stepping by the
// grid, into partial[b].
template <class Acc, class Item, class Op>
__global__ void reduce_items_partial(int64_t n, Item item, Op op, Acc identity, Acc* partial) {
  Acc acc = identity;
  const int64_t step = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) acc = op(acc, item(i));
  acc = block_reduce(acc, op);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// Pass 2 (one block): combines the partials and calls finish(total) once.
template <class Acc, class Op, class Finish>
__global__ void reduce_items_final(int64_t blocks, const Acc* partial, Op op, Acc identity, Finish finish) {
  Acc acc = identity;
  for (int64_t i = threadIdx.x; i < blocks; i += blockDim.x) acc = op(acc, partial[i]);
  acc = block_reduce(acc, op);
  if (threadIdx.x == 0) finish(acc);
}

// A reduce_items finisher for means: out[0] = T(total / divisor), the
// division the CPU kernels do.
template <class T>
struct StoreQuotient {
  T* out;
  double divisor;
  __device__ void operator()(double total) const { out[0] = scalar_cast<T>(total / divisor); }
};

// Partial blocks for n items: enough to fill an H100, few enough that the
// final pass is one short block.
inline int64_t reduce_blocks(int64_t n) { return std::min<int64_t>(blocks_for(n), 4 * kBlockSize); }

// Combines item(i) (a __device__ functor returning Acc) over i in [0, n) with
// op and calls finish(total) (a __device__ functor) in one thread on `device`.
template <class Acc, class Item, class Op, class Finish>
void reduce_items(int device, int64_t n, Item item, Op op, Acc identity, Finish finish) {
  const int64_t blocks = reduce_blocks(n);
  Tensor partial = Tensor::empty({blocks * int64_t(sizeof(Acc))}, DType::U8, Device::cuda(device));
  Acc* p = static_cast<Acc*>(partial.raw_data());
  DeviceGuard guard(device);
  cudaStream_t stream = current_stream(device);
  reduce_items_partial<<<unsigned(blocks), kBlockSize, 0, stream>>>(n, item, op, identity, p);
  SONO_CUDA_CHECK_LAUNCH();
  reduce_items_final<<<1, kBlockSize, 0, stream>>>(blocks, static_cast<const Acc*>(p), op, identity, finish);
  SONO_CUDA_CHECK_LAUNCH();
}

}  // namespace sono::cuda
