#pragma once
// Random masking drawn from the Philox stream of a Generator, so CPU and CUDA
// produce the same mask for the same (seed, offset). Each call advances the
// generator by the number of words it used. Identity when !training or p == 0.
#include "core/backend.h"
#include "core/philox.h"
#include "core/tensor.h"

namespace sono {

// Each element zeroed with probability p, kept ones scaled by 1/(1-p).
// Element i keeps iff philox_uniform(seed, offset + i) >= p.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen);
// Whole (sample, channel) planes of x [N, C, ...] zeroed with probability p;
// plane n*C + c keeps iff philox_uniform(seed, offset + n*C + c) >= p.
Tensor dropout2d(const Tensor& x, double p, bool training, Generator& gen);
// Stochastic depth per sample (lukemelas drop_connect): keep mask
// floor((1 - p) + u_n) with u_n = philox_uniform(seed, offset + n); output
// x / (1 - p) * mask.
Tensor drop_connect(const Tensor& x, double p, bool training, Generator& gen);

// The per-sample mask drop_connect multiplies x by: [N, 1, ...] (ones after
// the batch dim) of 0 or 1/(1 - p) in x's dtype, drawn exactly as drop_connect
// draws it (the generator advances the same way); undefined when !training or
// p == 0. For the fused drop_connect_add (ops/drop_connect_add.h).
Tensor drop_connect_mask(const Tensor& x, double p, bool training, Generator& gen);

// The same ops with an explicit mask (for parity tests that import masks):
// out = x * mask * scale, mask broadcast to x; gradient flows to x only.
Tensor apply_mask(const Tensor& x, const Tensor& mask, double scale);

// ---- backends ------------------------------------------------------------------
// How a uniform u of the stream decides "keep" for drop probability p. The
// rules never depend on the tensor dtype, so f32 and f64 runs (and the CPU and
// CUDA kernels, which both call mask_keep) draw the same mask.
enum class MaskRule {
  Bernoulli,  // dropout, dropout2d: keep iff u >= p
  Floor,      // drop_connect: keep iff floor((1 - p) + u) == 1, in float like lukemelas' f32 tensors
};
SONO_HD bool mask_keep(MaskRule rule, float u, double p) {
  if (rule == MaskRule::Bernoulli) return double(u) >= p;
  return floorf(float(1.0 - p) + u) >= 1.0f;
}

// mask (contiguous, float dtype) element i = mask_keep(rule, philox_uniform(seed, offset + i), p) ? scale : 0;
// the CUDA kernel (ops/cuda/dropout.cu) draws the same masks bit for bit.
SONO_BACKEND_FN(void, dropout_mask,
                (MaskRule rule, double p, double scale, uint64_t seed, uint64_t offset, const Tensor& mask));

}  // namespace sono
