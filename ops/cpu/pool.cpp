// CPU global average pool: x [N, C, H, W] contiguous -> y [N, C, 1, 1], each
// plane's mean summed in double (a plane can hold 16k values). The backward
// overwrites every element of gx's plane with gy / (H * W).
#include "ops/pool.h"
#include "core/bf16_cpu.h"
#include "core/parallel.h"

namespace sono::cpu {

void global_avg_pool2d_forward(const Tensor& x, const Tensor& y) {
  if (bf16::widened(global_avg_pool2d_forward, x, bf16::out(y))) return;
  dispatch_float(x.dtype(), "global_avg_pool2d", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* in = x.data<scalar_t>();
    scalar_t* out = y.data<scalar_t>();
    const int64_t planes = x.size(0) * x.size(1), hw = x.size(2) * x.size(3);
    parallel_for(planes, worth_parallel(planes * hw), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const scalar_t* src = in + p * hw;
        double sum = 0;  // double even for f32: a plane can hold 16k values
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < hw; ++i) sum += double(src[i]);
        out[p] = scalar_t(sum / double(hw));
      }
    });
  });
}

void global_avg_pool2d_backward(const Tensor& gy, const Tensor& gx) {
  if (bf16::widened(global_avg_pool2d_backward, gy, bf16::out(gx))) return;
  dispatch_float(gy.dtype(), "global_avg_pool2d_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* g = gy.data<scalar_t>();
    scalar_t* out = gx.data<scalar_t>();
    const int64_t planes = gx.size(0) * gx.size(1), hw = gx.size(2) * gx.size(3);
    parallel_for(planes, worth_parallel(planes * hw), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const scalar_t v = scalar_t(double(g[p]) / double(hw));
        scalar_t* dst = out + p * hw;
#pragma omp simd
        for (int64_t i = 0; i < hw; ++i) dst[i] = v;
      }
    });
  });
}

}  // namespace sono::cpu
