// Sum/mean and argmax over the middle dim of [outer, r, inner] on a cuda
// device (see ops/reduce.h).
//
// Math: sum     out[o, i] = T(scale * sum_k x[o, k, i]), summed in double
//       argmax  out[o, i] = first k of the maximum of x[o, :, i]; the first
//               NaN counts as the maximum (the CPU's comparison, PyTorch's rule)
// Layout: x contiguous [outer, r, inner]; out contiguous [outer, inner]; f32,
// f64 or bf16 (sums in double, T(.) rounds to nearest even; argmax compares
// the stored values).
// Launch (sum), all deterministic (fixed grids, fixed-order trees, no atomics):
//   inner == 1, few long rows: each row through the two-pass reduce_items;
//   inner == 1 otherwise:      one block per row, block_reduce;
//   inner > 1:                 one thread per (o, i), k looped in order
//                              (neighbouring threads read neighbouring i).
// argmax: one thread per (o, i) looping over k in order.
// Outputs: out is overwritten.
#include "core/cuda/launch.h"
#include "ops/cuda/block_reduce.cuh"
#include "ops/reduce.h"

namespace sono::cuda {

namespace {

template <class T>
struct Load {
  const T* x;
  __device__ double operator()(int64_t i) const { return double(x[i]); }
};

template <class T>
struct WriteScaled {
  T* out;
  double scale;
  __device__ void operator()(double total) const { out[0] = scalar_cast<T>(total * scale); }
};

template <class T>
__global__ void row_sum_kernel(const T* x, int64_t rows, int64_t r, double scale, T* out) {
  for (int64_t o = blockIdx.x; o < rows; o += gridDim.x) {  // uniform per block: block_reduce is safe
    const T* row = x + o * r;
    double s = 0;
    for (int64_t k = threadIdx.x; k < r; k += blockDim.x) s += double(row[k]);
    s = block_sum(s);
    if (threadIdx.x == 0) out[o] = scalar_cast<T>(s * scale);
  }
}

template <class T>
struct ColumnSum {
  const T* x;
  T* out;
  int64_t r, inner;
  double scale;
  __device__ void operator()(int64_t j) const {
    const int64_t o = j / inner, i = j - o * inner;
    const T* p = x + o * r * inner + i;
    double s = 0;
    for (int64_t k = 0; k < r; ++k) s += double(p[k * inner]);
    out[j] = scalar_cast<T>(s * scale);
  }
};

template <class T>
struct ColumnArgmax {
  const T* x;
  int64_t* out;
  int64_t r, inner;
  __device__ void operator()(int64_t j) const {
    const int64_t o = j / inner, i = j - o * inner;
    const T* p = x + o * r * inner + i;
    using C = compute_t<T>;
    C best = C(p[0]);
    int64_t idx = 0;
    for (int64_t k = 1; k < r; ++k) {
      const C v = C(p[k * inner]);
      if (v > best || (v != v && best == best)) {  // strictly greater keeps the first; the first NaN stays
        best = v;
        idx = k;
      }
    }
    out[j] = idx;
  }
};

// Rows at least this long, when there are few of them, get a whole grid each.
constexpr int64_t kLongRow = int64_t(1) << 16;
constexpr int64_t kFewRows = 8;

}  // namespace

void sum_middle(const Tensor& x, int64_t outer, int64_t r, int64_t inner, double scale, const Tensor& out) {
  const int device = x.device().index;
  dispatch_real(x.dtype(), "sum", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    if (inner > 1) return parallel_for(device, outer * inner, ColumnSum<T>{px, po, r, inner, scale});
    if (outer <= kFewRows && r >= kLongRow) {
      for (int64_t o = 0; o < outer; ++o)
        reduce_items(device, r, Load<T>{px + o * r}, SumOp{}, 0.0, WriteScaled<T>{po + o, scale});
      return;
    }
    DeviceGuard guard(device);
    const unsigned blocks = unsigned(std::min<int64_t>(outer, kMaxBlocks));
    row_sum_kernel<T><<<blocks, kBlockSize, 0, current_stream(device)>>>(px, outer, r, scale, po);
    SONO_CUDA_CHECK_LAUNCH();
  });
}

void argmax_middle(const Tensor& x, int64_t outer, int64_t r, int64_t inner, const Tensor& out) {
  dispatch_real(x.dtype(), "argmax", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(x.device().index, outer * inner, ColumnArgmax<T>{x.data<T>(), out.data<int64_t>(), r, inner});
  });
}

}  // namespace sono::cuda
