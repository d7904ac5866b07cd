// Per-sample cell gather on a cuda device (see ops/gather.h).
//
// Math: forward  out[b, c] = x[b, c, rows[b], cols[b]]
//       backward gx[b, c, rows[b], cols[b]] = gy[b, c] (gx arrives zeroed)
// Layout: x and gy any strides (passed in elements); rows/cols contiguous i64
// [B], already checked to lie inside x; out and gx contiguous; f32, f64 or
// bf16 (values copied, never rounded).
// Launch: one thread per (b, c). Each sample writes only its own planes, so no
// two threads write the same element: no atomics.
// Outputs: out is overwritten; gx gets B*C elements written, the rest is left
// as the caller's zeros.
// The indices' check (cell_index_check, one thread: B is the batch) runs
// before these kernels but its verdict reaches the host only at the next
// read-back (core/device_check.h), so a cell outside x is skipped (out gets
// 0), never read or written.
#include "core/cuda/device_check.cuh"
#include "core/cuda/launch.h"
#include "ops/gather.h"

namespace sono::cuda {

namespace {

__device__ inline bool inside(int64_t v, int64_t limit) { return v >= 0 && v < limit; }

struct CheckCells {
  const int64_t* idx;
  int64_t n, limit, id;
  int64_t* flag;
  __device__ void operator()(int64_t) const {
    for (int64_t b = 0; b < n; ++b)
      if (!inside(idx[b], limit)) return report_check_failure(flag, id, idx[b], b);
  }
};

template <class T>
struct Gather {
  const T* x;
  const int64_t* rows;
  const int64_t* cols;
  T* out;
  int64_t channels, h, w, s0, s1, s2, s3;
  __device__ void operator()(int64_t i) const {
    const int64_t b = i / channels, c = i - b * channels;
    out[i] = inside(rows[b], h) && inside(cols[b], w) ? x[b * s0 + c * s1 + rows[b] * s2 + cols[b] * s3] : T(0);
  }
};

template <class T>
struct Scatter {
  const T* gy;
  const int64_t* rows;
  const int64_t* cols;
  T* gx;
  int64_t channels, h, w, g0, g1;
  __device__ void operator()(int64_t i) const {
    const int64_t b = i / channels, c = i - b * channels;
    if (inside(rows[b], h) && inside(cols[b], w))
      gx[((b * channels + c) * h + rows[b]) * w + cols[b]] = gy[b * g0 + c * g1];
  }
};

}  // namespace

void cell_index_check(const Tensor& idx, int64_t limit, int64_t id, int64_t* flag) {
  parallel_for(idx.device().index, 1, CheckCells{idx.data<int64_t>(), idx.numel(), limit, id, flag});
}

void gather_cells_forward(const Tensor& x, const Tensor& rows, const Tensor& cols, const Tensor& out) {
  const Shape& st = x.strides();
  dispatch_real(x.dtype(), "gather_cells", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(x.device().index, out.numel(),
                 Gather<T>{x.data<T>(), rows.data<int64_t>(), cols.data<int64_t>(), out.data<T>(), x.size(1), x.size(2),
                           x.size(3), st[0], st[1], st[2], st[3]});
  });
}

void gather_cells_backward(const Tensor& gy, const Tensor& rows, const Tensor& cols, const Tensor& gx) {
  const Shape& gs = gy.strides();
  dispatch_real(gx.dtype(), "gather_cells_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(gx.device().index, gx.size(0) * gx.size(1),
                 Scatter<T>{gy.data<T>(), rows.data<int64_t>(), cols.data<int64_t>(), gx.data<T>(), gx.size(1),
                            gx.size(2), gx.size(3), gs[0], gs[1]});
  });
}

}  // namespace sono::cuda
