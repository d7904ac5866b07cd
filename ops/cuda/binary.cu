// Broadcasting element-wise arithmetic on a cuda device (see ops/binary.h).
//
// Math: out = f(a, b) with f one of AddFn/SubFn/MulFn/DivFn (ops/binary.h,
// shared with the CPU); out = alpha * x + beta in the exact single-operation
// forms the CPU uses (x * alpha, x + beta).
// Layout: a and b contiguous (either may be broadcast: stride 0 on the dims
// it lacks), out contiguous with the broadcast shape.
// Launch: one grid-stride loop over out. The operands' geometry is merged
// first (make_indexer), which turns the model's patterns into few dims:
//   1 dim   same shape, or a scalar/one-element operand: index math free
//   2 dims  [N, C, H, W] x [N, C, 1, 1] (squeeze-excitation gate), [N, C] x [C],
//           drop-connect masks [N, 1, 1, 1]: one division per element,
//           32-bit when the sizes allow
//   more    the general StridedIndexer.
// dtypes: f32, f64 or bf16 (operands loaded as float, f in float, out stored
// rounded to nearest even).
// Outputs: out is overwritten.
#include <array>

#include "core/cuda/launch.h"
#include "core/strided.h"
#include "ops/binary.h"

namespace sono::cuda {

namespace {

// f on the operands widened to their compute type, rounded back to T.
template <class T, class F>
__device__ __forceinline__ T apply(F f, T a, T b) {
  return scalar_cast<T>(f(compute_t<T>(a), compute_t<T>(b)));
}

// Operand k's element for output i of a 1-d geometry: i * stride (0 or 1).
template <class T, class F>
struct Binary1d {
  const T* a;
  const T* b;
  T* out;
  int64_t sa, sb;
  F f;
  __device__ void operator()(int64_t i) const { out[i] = apply<T>(f, a[i * sa], b[i * sb]); }
};

// 2-d geometry [rows, cols]; Index is uint32_t when rows * cols fits.
template <class T, class F, class Index>
struct Binary2d {
  const T* a;
  const T* b;
  T* out;
  Index cols;
  int64_t sa0, sa1, sb0, sb1;
  F f;
  __device__ void operator()(int64_t i) const {
    const Index row = Index(i) / cols, col = Index(i) - row * cols;
    out[i] = apply<T>(f, a[int64_t(row) * sa0 + int64_t(col) * sa1], b[int64_t(row) * sb0 + int64_t(col) * sb1]);
  }
};

template <class T, class F>
struct BinaryNd {
  const T* a;
  const T* b;
  T* out;
  StridedIndexer<2> ix;
  F f;
  __device__ void operator()(int64_t i) const {
    int64_t o[2];
    ix.offsets(i, o);
    out[i] = apply<T>(f, a[o[0]], b[o[1]]);
  }
};

template <class T>
struct Scale {
  const T* x;
  T* out;
  compute_t<T> alpha;
  __device__ void operator()(int64_t i) const { out[i] = scalar_cast<T>(alpha * compute_t<T>(x[i])); }
};
template <class T>
struct Shift {
  const T* x;
  T* out;
  compute_t<T> beta;
  __device__ void operator()(int64_t i) const { out[i] = scalar_cast<T>(compute_t<T>(x[i]) + beta); }
};
template <class T>
struct ScaleShift {
  const T* x;
  T* out;
  compute_t<T> alpha, beta;
  __device__ void operator()(int64_t i) const { out[i] = scalar_cast<T>(alpha * compute_t<T>(x[i]) + beta); }
};

}  // namespace

void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const Shape& shape = out.shape();
  const Shape sa = broadcast_strides(a.shape(), a.strides(), shape);
  const Shape sb = broadcast_strides(b.shape(), b.strides(), shape);
  // Operands only: out is contiguous, so element i is out[i].
  const StridedIndexer<2> ix = make_indexer<2>(shape, {&sa, &sb}, "binary");
  const int device = out.device().index;
  const int64_t n = out.numel();
  dispatch_real(out.dtype(), "binary", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const T *pa = a.data<T>(), *pb = b.data<T>();
    T* po = out.data<T>();
    dispatch_binary(op, [&](auto f) {
      using F = decltype(f);
      if (ix.ndim <= 1) {
        const int64_t s0 = ix.ndim ? ix.strides[0][0] : 0, s1 = ix.ndim ? ix.strides[1][0] : 0;
        return parallel_for(device, n, Binary1d<T, F>{pa, pb, po, s0, s1, f});
      }
      if (ix.ndim == 2) {
        const int64_t cols = ix.sizes[1];
        const int64_t s[4] = {ix.strides[0][0], ix.strides[0][1], ix.strides[1][0], ix.strides[1][1]};
        if (n <= int64_t(UINT32_MAX)) {
          const Binary2d<T, F, uint32_t> k{pa, pb, po, uint32_t(cols), s[0], s[1], s[2], s[3], f};
          return parallel_for(device, n, k);
        }
        return parallel_for(device, n, Binary2d<T, F, int64_t>{pa, pb, po, cols, s[0], s[1], s[2], s[3], f});
      }
      parallel_for(device, n, BinaryNd<T, F>{pa, pb, po, ix, f});
    });
  });
}

void affine_forward(const Tensor& x, double alpha, double beta, const Tensor& out) {
  const int device = out.device().index;
  const int64_t n = x.numel();
  dispatch_real(x.dtype(), "affine", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const T* in = x.data<T>();
    T* o = out.data<T>();
    using C = compute_t<T>;
    if (beta == 0.0) parallel_for(device, n, Scale<T>{in, o, C(alpha)});
    else if (alpha == 1.0) parallel_for(device, n, Shift<T>{in, o, C(beta)});
    else parallel_for(device, n, ScaleShift<T>{in, o, C(alpha), C(beta)});
  });
}

}  // namespace sono::cuda
