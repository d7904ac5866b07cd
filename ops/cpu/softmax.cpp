// CPU softmax and log-softmax over the middle axis of a contiguous x viewed as
// [outer, n, inner] (n = the classes; inner = the pixels, or 1), max-subtracted
// so exp never overflows. The forward overwrites y; the backward overwrites gx
// from the saved output y and gy: softmax y * (gy - sum(gy * y)), log-softmax
// gy - exp(y) * sum(gy). exp: ops/cpu/vec_math.h.
#include <algorithm>
#include <cmath>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "ops/cpu/vec_math.h"
#include "ops/softmax.h"

namespace sono::cpu {

namespace {

constexpr int64_t kBlock = 256;  // inner positions handled together (vectorized over)

// Calls f(base, len) in parallel for every block of up to kBlock inner
// positions of every outer index; element k of position i is base + k*inner + i.
template <class F>
void for_each_block(int64_t outer, int64_t n, int64_t inner, F&& f) {
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  parallel_for(outer * blocks, worth_parallel(outer * n * inner), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, i0 = (t % blocks) * kBlock;
      f(o * n * inner + i0, std::min(kBlock, inner - i0));
    }
  });
}

}  // namespace

void softmax_forward(bool is_log, const Tensor& x, int64_t outer, int64_t n, int64_t inner, const Tensor& y) {
  if (bf16::widened(softmax_forward, is_log, x, outer, n, inner, bf16::out(y))) return;
  dispatch_float(x.dtype(), "softmax", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    for_each_block(outer, n, inner, [&](int64_t base, int64_t len) {
      scalar_t mx[kBlock];
      double sum[kBlock] = {};
      for (int64_t i = 0; i < len; ++i) mx[i] = px[base + i];
      for (int64_t k = 1; k < n; ++k) {
        const scalar_t* row = px + base + k * inner;
        for (int64_t i = 0; i < len; ++i) mx[i] = std::max(mx[i], row[i]);
      }
      // max-subtracted, so exp never overflows
      for (int64_t k = 0; k < n; ++k) {
        const scalar_t* row = px + base + k * inner;
        scalar_t* out = py + base + k * inner;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) out[i] = row[i] - mx[i];
        vec::exp(out, out, len);
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) sum[i] += double(out[i]);
      }
      if (is_log) {
        scalar_t lse[kBlock];
        for (int64_t i = 0; i < len; ++i) lse[i] = scalar_t(std::log(sum[i]));
        for (int64_t k = 0; k < n; ++k) {
          const scalar_t* row = px + base + k * inner;
          scalar_t* out = py + base + k * inner;
#pragma omp simd
          for (int64_t i = 0; i < len; ++i) out[i] = (row[i] - mx[i]) - lse[i];
        }
      } else {
        scalar_t inv[kBlock];
        for (int64_t i = 0; i < len; ++i) inv[i] = scalar_t(1.0 / sum[i]);
        for (int64_t k = 0; k < n; ++k) {
          scalar_t* out = py + base + k * inner;
#pragma omp simd
          for (int64_t i = 0; i < len; ++i) out[i] *= inv[i];
        }
      }
    });
  });
}

void softmax_backward(bool is_log, const Tensor& y, const Tensor& gy, int64_t outer, int64_t n, int64_t inner,
                      const Tensor& gx) {
  if (bf16::widened(softmax_backward, is_log, y, gy, outer, n, inner, bf16::out(gx))) return;
  dispatch_float(y.dtype(), "softmax_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* py = y.data<scalar_t>();
    const scalar_t* pg = gy.data<scalar_t>();
    scalar_t* pgx = gx.data<scalar_t>();
    for_each_block(outer, n, inner, [&](int64_t base, int64_t len) {
      // softmax: sum(gy * y); log_softmax: sum(gy)
      double acc[kBlock] = {};
      for (int64_t k = 0; k < n; ++k) {
        const int64_t off = base + k * inner;
#pragma omp simd
        for (int64_t i = 0; i < len; ++i) acc[i] += is_log ? double(pg[off + i]) : double(pg[off + i] * py[off + i]);
      }
      scalar_t s[kBlock];
      for (int64_t i = 0; i < len; ++i) s[i] = scalar_t(acc[i]);
      for (int64_t k = 0; k < n; ++k) {
        const int64_t off = base + k * inner;
        if (is_log) {
          scalar_t ey[kBlock];
          vec::exp(py + off, ey, len);
#pragma omp simd
          for (int64_t i = 0; i < len; ++i) pgx[off + i] = pg[off + i] - ey[i] * s[i];
        } else {
#pragma omp simd
          for (int64_t i = 0; i < len; ++i) pgx[off + i] = py[off + i] * (pg[off + i] - s[i]);
        }
      }
    });
  });
}

}  // namespace sono::cpu
