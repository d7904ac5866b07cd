// CPU drop-connect + residual add over contiguous [N, ...] tensors seen as N
// samples of S contiguous values: out = x * mask[n] + residual (forward, the
// two roundings of ops/math.h's masked_add), gx = gy * mask[n] (backward).
// Work is split into (sample, block of kBlock values) pieces so that a batch
// of one still spreads over the threads. out and gx are overwritten.
#include <algorithm>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "ops/drop_connect_add.h"

namespace sono::cpu {

namespace {

constexpr int64_t kBlock = 8192;

// f(m, begin, end) for every piece [begin, end) of sample n's values, m = mask[n],
// over a contiguous [N, ...] tensor `like` (x or gy).
template <class T, class F>
void for_each_piece(const Tensor& like, const T* mask, F&& f) {
  const int64_t samples = like.size(0), per_sample = like.numel() / samples;
  const int64_t blocks = (per_sample + kBlock - 1) / kBlock;
  parallel_for(samples * blocks, worth_parallel(samples * per_sample), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / blocks, b = t % blocks;
      f(mask[n], n * per_sample + b * kBlock, n * per_sample + std::min(per_sample, (b + 1) * kBlock));
    }
  });
}

}  // namespace

void drop_connect_add_forward(const Tensor& x, const Tensor& mask, const Tensor& residual, const Tensor& out) {
  if (bf16::widened(drop_connect_add_forward, x, mask, residual, bf16::out(out))) return;
  dispatch_float(x.dtype(), "drop_connect_add", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const T* xd = x.data<T>();
    const T* rd = residual.data<T>();
    T* od = out.data<T>();
    for_each_piece(x, mask.data<T>(), [&](T m, int64_t begin, int64_t end) {
    // The product is stored before the add (no fused multiply-add), so the
    // result is the unfused mul then add to the bit; the piece is in cache.
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) od[i] = xd[i] * m;
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) od[i] = od[i] + rd[i];
    });
  });
}

void drop_connect_add_backward(const Tensor& mask, const Tensor& gy, const Tensor& gx) {
  if (bf16::widened(drop_connect_add_backward, mask, gy, bf16::out(gx))) return;
  dispatch_float(gy.dtype(), "drop_connect_add_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const T* g = gy.data<T>();
    T* gd = gx.data<T>();
    for_each_piece(gy, mask.data<T>(), [&](T m, int64_t begin, int64_t end) {
#pragma omp simd
      for (int64_t i = begin; i < end; ++i) gd[i] = g[i] * m;
    });
  });
}

}  // namespace sono::cpu
