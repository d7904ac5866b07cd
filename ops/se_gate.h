#pragma once
// The squeeze-excitation gate in one op: out = x * sigmoid(s), one logit s
// per (sample, channel) plane of x. The same values as mul(sigmoid(s), x)
// without the sigmoid tensor; backward takes x and the gate's gradient
// sum(gy * x) in one pass over gy and recomputes sigmoid(s) instead of
// keeping it.
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

// x [N, C, ...]; s [N, C] or [N, C, 1, ...] (N*C logits), same dtype and device.
// The result has x's shape; gradients flow to x and s.
Tensor se_gate(const Tensor& x, const Tensor& s);

// ---- backends: x, out, gy, gx contiguous [N, C, S...] (N*C planes of S); s
// and gs contiguous, N*C values. out = x * sigmoid(s[p]) (overwritten).
SONO_BACKEND_FN(void, se_gate_forward, (const Tensor& x, const Tensor& s, const Tensor& out));
// gx = gy * sigmoid(s[p]); gs[p] = sigmoid'(s[p]) * sum over the plane of
// gy * x (sum in double). Either output may be undefined (not wanted).
SONO_BACKEND_FN(void, se_gate_backward,
                (const Tensor& x, const Tensor& s, const Tensor& gy, const Tensor& gx, const Tensor& gs));

}  // namespace sono
