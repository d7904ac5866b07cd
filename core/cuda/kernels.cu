// The core's data kernels on a cuda device (see core/kernels.h).
//
// copy:   dst[i] = scalar_cast<D>(src[i]) for all 6x6 dtype pairs; dst overwritten.
// fill:   dst[i] = value; dst overwritten.
// axpy:   dst[i] += alpha * src[i] (f32/f64/bf16; bf16 in float, rounded to
//         nearest even once); dst accumulated.
// sum_to_shape: dst[j] = sum of src[i] over the broadcast dims that map i to j,
//         accumulated in double in a fixed order (deterministic), f32/f64/bf16;
//         dst overwritten.
//
// Layout: any strides (views), geometry passed by value in a StridedIndexer;
// when every operand is contiguous, copy, fill and axpy take an index-only
// path (no per-element index arithmetic). Launch: grid-stride loops of
// kBlockSize threads (parallel_for); sum_to_shape with long reductions uses
// one block per output element and a shared-memory tree.
#include "core/cuda/allocator.h"
#include "core/cuda/launch.h"
#include "core/kernels.h"
#include "core/strided.h"

namespace sono::kernels::cuda {

using sono::scalar_cast;
using sono::cuda::kBlockSize;
using sono::cuda::make_indexer;
using sono::cuda::parallel_for;
using sono::cuda::StridedIndexer;

namespace {

// The allocator and copy function register themselves at static
// initialization in core/cuda/allocator.cpp; this reference makes the linker
// keep that object whenever the kernels (reached from Tensor) are linked.
[[maybe_unused]] const bool g_backend = sono::cuda::backend_registered();

template <class D, class S>
struct CopyContiguous {
  D* dst;
  const S* src;
  __device__ void operator()(int64_t i) const { dst[i] = scalar_cast<D>(src[i]); }
};

template <class D, class S>
struct CopyStrided {
  D* dst;
  const S* src;
  StridedIndexer<2> ix;
  __device__ void operator()(int64_t i) const {
    int64_t o[2];
    ix.offsets(i, o);
    dst[o[0]] = scalar_cast<D>(src[o[1]]);
  }
};

template <class T>
struct FillContiguous {
  T* dst;
  T value;
  __device__ void operator()(int64_t i) const { dst[i] = value; }
};

template <class T>
struct Fill {
  T* dst;
  T value;
  StridedIndexer<1> ix;
  __device__ void operator()(int64_t i) const {
    int64_t o[1];
    ix.offsets(i, o);
    dst[o[0]] = value;
  }
};

// d + alpha * s in the compute type of T, rounded back to T.
template <class T>
__device__ __forceinline__ T axpy_value(T d, T s, compute_t<T> alpha) {
  return scalar_cast<T>(compute_t<T>(d) + alpha * compute_t<T>(s));
}

template <class T>
struct AxpyContiguous {
  T* dst;
  const T* src;
  compute_t<T> alpha;
  __device__ void operator()(int64_t i) const { dst[i] = axpy_value(dst[i], src[i], alpha); }
};

template <class T>
struct Axpy {
  T* dst;
  const T* src;
  compute_t<T> alpha;
  StridedIndexer<2> ix;
  __device__ void operator()(int64_t i) const {
    int64_t o[2];
    ix.offsets(i, o);
    dst[o[0]] = axpy_value(dst[o[0]], src[o[1]], alpha);
  }
};

// Geometry of a reduction: `outer` walks the dst elements (dst offset, src
// base offset), `inner` the src elements summed into one of them.
struct Reduction {
  StridedIndexer<2> outer;
  StridedIndexer<1> inner;
  int64_t n_out = 0, n_inner = 0;
};

template <class T>
struct SumSequential {
  T* dst;
  const T* src;
  Reduction r;
  __device__ void operator()(int64_t j) const {
    int64_t o[2], s[1];
    r.outer.offsets(j, o);
    double acc = 0;
    for (int64_t k = 0; k < r.n_inner; ++k) {
      r.inner.offsets(k, s);
      acc += double(src[o[1] + s[0]]);
    }
    dst[o[0]] = scalar_cast<T>(acc);
  }
};

template <class T>
__global__ void sum_block_per_output(T* dst, const T* src, Reduction r) {
  __shared__ double partial[kBlockSize];
  for (int64_t j = blockIdx.x; j < r.n_out; j += gridDim.x) {
    int64_t o[2], s[1];
    r.outer.offsets(j, o);
    double acc = 0;
    for (int64_t k = threadIdx.x; k < r.n_inner; k += blockDim.x) {
      r.inner.offsets(k, s);
      acc += double(src[o[1] + s[0]]);
    }
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (int w = kBlockSize / 2; w > 0; w /= 2) {
      if (int(threadIdx.x) < w) partial[threadIdx.x] += partial[threadIdx.x + w];
      __syncthreads();
    }
    if (threadIdx.x == 0) dst[o[0]] = scalar_cast<T>(partial[0]);
    __syncthreads();  // partial[] is reused for the next output
  }
}

int device_of(const Tensor& t) { return t.device().index; }

}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  const bool contiguous = dst.is_contiguous() && src.is_contiguous();
  const auto ix = make_indexer<2>(dst.shape(), {&dst.strides(), &src.strides()}, "copy");
  dispatch_all(dst.dtype(), "copy", [&](auto dtag) {
    using D = SONO_TYPE(dtag);
    dispatch_all(src.dtype(), "copy", [&](auto stag) {
      using S = SONO_TYPE(stag);
      D* d = static_cast<D*>(dst.raw_data());
      const S* s = static_cast<const S*>(src.raw_data());
      if (contiguous) parallel_for(device_of(dst), dst.numel(), CopyContiguous<D, S>{d, s});
      else parallel_for(device_of(dst), dst.numel(), CopyStrided<D, S>{d, s, ix});
    });
  });
}

void fill(const Tensor& dst, double value) {
  const bool contiguous = dst.is_contiguous();
  const auto ix = make_indexer<1>(dst.shape(), {&dst.strides()}, "fill");
  dispatch_all(dst.dtype(), "fill", [&](auto tag) {
    using T = SONO_TYPE(tag);
    T* d = static_cast<T*>(dst.raw_data());
    const T v = scalar_cast<T>(value);
    if (contiguous) parallel_for(device_of(dst), dst.numel(), FillContiguous<T>{d, v});
    else parallel_for(device_of(dst), dst.numel(), Fill<T>{d, v, ix});
  });
}

void axpy(const Tensor& dst, const Tensor& src, double alpha) {
  const bool contiguous = dst.is_contiguous() && src.is_contiguous();
  const auto ix = make_indexer<2>(dst.shape(), {&dst.strides(), &src.strides()}, "add_");
  dispatch_real(dst.dtype(), "add_", [&](auto tag) {
    using T = SONO_TYPE(tag);
    using C = compute_t<T>;
    T* d = static_cast<T*>(dst.raw_data());
    const T* s = static_cast<const T*>(src.raw_data());
    if (contiguous) parallel_for(device_of(dst), dst.numel(), AxpyContiguous<T>{d, s, C(alpha)});
    else parallel_for(device_of(dst), dst.numel(), Axpy<T>{d, s, C(alpha), ix});
  });
}

void sum_to_shape(const Tensor& dst, const Tensor& src) {
  // Split src's dims into kept ones (dst has them) and reduced ones (dst is
  // broadcast there); each indexer sees the other's dims as size 1.
  const Shape& shape = src.shape();
  const Shape dst_strides = broadcast_strides(dst.shape(), dst.strides(), shape);
  const size_t lead = shape.size() - dst.shape().size();
  Shape kept(shape.size(), 1), reduced(shape.size(), 1);
  for (size_t d = 0; d < shape.size(); ++d) {
    const bool is_reduced = d < lead || (dst.shape()[d - lead] == 1 && shape[d] != 1);
    (is_reduced ? reduced : kept)[d] = shape[d];
  }
  Reduction r;
  r.outer = make_indexer<2>(kept, {&dst_strides, &src.strides()}, "sum_to_shape");
  r.inner = make_indexer<1>(reduced, {&src.strides()}, "sum_to_shape");
  r.n_out = shape_numel(kept);
  r.n_inner = shape_numel(reduced);
  if (r.n_out == 0) return;
  const int device = device_of(dst);
  dispatch_real(src.dtype(), "sum_to_shape", [&](auto tag) {
    using T = SONO_TYPE(tag);
    T* d = static_cast<T*>(dst.raw_data());
    const T* s = static_cast<const T*>(src.raw_data());
    // Short reductions: one thread per output. Long ones: one block per
    // output so a few outputs (e.g. a bias over N*H*W) still fill the GPU.
    if (r.n_inner < 2 * kBlockSize) {
      parallel_for(device, r.n_out, SumSequential<T>{d, s, r});
      return;
    }
    sono::cuda::DeviceGuard guard(device);
    const unsigned blocks = unsigned(std::min<int64_t>(r.n_out, sono::cuda::kMaxBlocks));
    sum_block_per_output<T><<<blocks, kBlockSize, 0, sono::cuda::current_stream(device)>>>(d, s, r);
    SONO_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace sono::kernels::cuda
