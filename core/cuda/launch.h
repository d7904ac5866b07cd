#pragma once
// Launch helpers for .cu files: grid-stride element loops and the by-value
// strided geometry that lets one kernel read any view (up to kMaxDims dims).
#include <array>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/cuda/check.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace sono::cuda {

constexpr int kBlockSize = 256;
constexpr int kMaxDims = 8;
// Grid-stride loops cover any n; more blocks than this only add scheduling.
constexpr int64_t kMaxBlocks = int64_t(1) << 16;

inline unsigned blocks_for(int64_t n) {
  int64_t b = (n + kBlockSize - 1) / kBlockSize;
  return unsigned(b < 1 ? 1 : b > kMaxBlocks ? kMaxBlocks : b);
}

template <class F>
__global__ void parallel_for_kernel(int64_t n, F f) {
  const int64_t step = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) f(i);
}

// Calls the functor f(i) (a struct with a __device__ operator()(int64_t)) for
// every i in [0, n) on the stream of cuda device `device`.
template <class F>
void parallel_for(int device, int64_t n, const F& f) {
  if (n <= 0) return;
  DeviceGuard guard(device);
  parallel_for_kernel<<<blocks_for(n), kBlockSize, 0, current_stream(device)>>>(n, f);
  SONO_CUDA_CHECK_LAUNCH();
}

// Calls f(I{}) with the narrowest index type for n elements: uint32_t when n
// fits, else uint64_t. Element kernels that divide the index (its plane, its
// sample) are dominated by 64-bit divisions otherwise.
template <class F>
void with_narrow_index(int64_t n, F&& f) {
  if (n <= int64_t(UINT32_MAX)) f(uint32_t{});
  else f(uint64_t{});
}

// N operands sharing one shape, each with its own strides (in elements).
// Element `linear` (row-major over the shape) sits at offsets out[k].
template <int N>
struct StridedIndexer {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};

  __host__ __device__ void offsets(int64_t linear, int64_t (&out)[N]) const {
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < N; ++k) out[k] += i * strides[k][d];
    }
  }
};

// Drops size-1 dims and merges neighbours that are contiguous in every
// operand (a contiguous tensor becomes one dim), so the divisions per element
// stay few and views of more than kMaxDims dims usually still fit.
template <int N>
StridedIndexer<N> make_indexer(const Shape& shape, const std::array<const Shape*, N>& strides, const char* op) {
  std::vector<int64_t> sizes;
  std::array<std::vector<int64_t>, N> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !sizes.empty();
    for (int k = 0; k < N && merge; ++k) merge = st[k].back() == (*strides[k])[d] * shape[d];
    if (merge) {
      sizes.back() *= shape[d];
      for (int k = 0; k < N; ++k) st[k].back() = (*strides[k])[d];
    } else {
      sizes.push_back(shape[d]);
      for (int k = 0; k < N; ++k) st[k].push_back((*strides[k])[d]);
    }
  }
  SONO_CHECK(sizes.size() <= size_t(kMaxDims), op, "the CUDA kernels handle views of up to ", kMaxDims,
             " non-mergeable dims, got shape ", shape_str(shape));
  StridedIndexer<N> ix;
  ix.ndim = int(sizes.size());
  for (int d = 0; d < ix.ndim; ++d) {
    ix.sizes[d] = sizes[size_t(d)];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = st[k][size_t(d)];
  }
  return ix;
}

}  // namespace sono::cuda
