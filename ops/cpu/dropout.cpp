// CPU dropout masks: element i of the contiguous float mask is overwritten
// with `scale` when the Philox uniform at (seed, offset + i) keeps it under
// the rule, else 0. The CUDA kernel draws the same mask bit for bit; applying
// the mask (x * mask) is a plain broadcast multiply in ops/dropout.cpp.
#include "ops/dropout.h"
#include "core/bf16_cpu.h"
#include "core/parallel.h"

namespace sono::cpu {

void dropout_mask(MaskRule rule, double p, double scale, uint64_t seed, uint64_t offset, const Tensor& mask) {
  if (bf16::widened(dropout_mask, rule, p, scale, seed, offset, bf16::out(mask))) return;
  dispatch_float(mask.dtype(), "dropout_mask", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    scalar_t* m = mask.data<scalar_t>();
    const scalar_t keep = scalar_t(scale);
    const int64_t n = mask.numel();
    parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        m[i] = mask_keep(rule, philox_uniform(seed, offset + uint64_t(i)), p) ? keep : scalar_t(0);
    });
  });
}

}  // namespace sono::cpu
