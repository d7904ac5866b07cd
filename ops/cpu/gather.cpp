// CPU detection-cell gather: out [B, C] (contiguous, overwritten) =
// x[b, c, rows[b], cols[b]] for x [B, C, H, W] of any strides. The backward
// writes gy [B, C] into those cells of gx [B, C, H, W], which the caller has
// zeroed: one cell per (sample, channel), so writes never collide.
// cell_index_check reports the first sample with an index outside [0, limit).
#include "ops/gather.h"
#include "core/bf16_cpu.h"
#include "core/device_check.h"

namespace sono::cpu {

void cell_index_check(const Tensor& idx, int64_t limit, int64_t id, int64_t* flag) {
  const int64_t* v = idx.data<int64_t>();
  for (int64_t b = 0; b < idx.numel(); ++b)
    if (v[b] < 0 || v[b] >= limit) return report_check_failure(flag, id, v[b], b);
}

void gather_cells_forward(const Tensor& x, const Tensor& rows, const Tensor& cols, const Tensor& out) {
  if (bf16::widened(gather_cells_forward, x, rows, cols, bf16::out(out))) return;
  dispatch_float(x.dtype(), "gather_cells", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* px = x.data<scalar_t>();
    const int64_t* r = rows.data<int64_t>();
    const int64_t* c = cols.data<int64_t>();
    scalar_t* po = out.data<scalar_t>();
    const Shape& st = x.strides();
    const int64_t B = x.size(0), C = x.size(1);
    for (int64_t b = 0; b < B; ++b) {
      const scalar_t* cell = px + b * st[0] + r[b] * st[2] + c[b] * st[3];
      for (int64_t ch = 0; ch < C; ++ch) po[b * C + ch] = cell[ch * st[1]];
    }
  });
}

void gather_cells_backward(const Tensor& gy, const Tensor& rows, const Tensor& cols, const Tensor& gx) {
  if (bf16::widened(gather_cells_backward, gy, rows, cols, bf16::inout(gx))) return;
  dispatch_float(gx.dtype(), "gather_cells_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* pg = gy.data<scalar_t>();
    const int64_t* r = rows.data<int64_t>();
    const int64_t* c = cols.data<int64_t>();
    scalar_t* px = gx.data<scalar_t>();
    const Shape& gs = gy.strides();
    const int64_t B = gx.size(0), C = gx.size(1), H = gx.size(2), W = gx.size(3);
    // Each sample writes only its own planes: no two writes collide.
    for (int64_t b = 0; b < B; ++b)
      for (int64_t ch = 0; ch < C; ++ch) px[((b * C + ch) * H + r[b]) * W + c[b]] = pg[b * gs[0] + ch * gs[1]];
  });
}

}  // namespace sono::cpu
