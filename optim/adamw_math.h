#pragma once
// One AdamW element update, shared by the CPU loop and the CUDA kernel.
// Follows PyTorch 2.2's single-tensor AdamW in operation order and in which
// scalars are computed in double and rounded once, so a step agrees with
// PyTorch to the last bit or two in f32:
//   p  *= 1 - lr*wd                     (decoupled weight decay first)
//   m   = lerp(m, g, 1 - beta1)
//   v   = v*beta2 + (1 - beta2)*g*g
//   p  -= step_size * m / (sqrt(v)/sqrt(bias2) + eps),  step_size = lr / bias1
#include <cmath>

#include "core/macros.h"

namespace sono {

// Per-step scalars, computed on the host in double.
struct AdamWScalars {
  float decay;  // 1 - lr*wd
  float one_minus_beta1;
  float beta2, one_minus_beta2;
  float step_size;   // lr / (1 - beta1^t)
  float bias2_sqrt;  // sqrt(1 - beta2^t)
  float eps;
};

inline AdamWScalars adamw_scalars(double lr, double beta1, double beta2, double eps, double wd, int64_t step) {
  double bias1 = 1.0 - std::pow(beta1, double(step));
  double bias2 = 1.0 - std::pow(beta2, double(step));
  return {float(1.0 - lr * wd), float(1.0 - beta1),      float(beta2), float(1.0 - beta2),
          float(lr / bias1),    float(std::sqrt(bias2)), float(eps)};
}

// PyTorch's lerp: self + w*(end - self) for w < 0.5, end - (end - self)*(1 - w) otherwise.
SONO_HD float lerp_like_torch(float self, float end, float w) {
  return w < 0.5f ? self + w * (end - self) : end - (end - self) * (1.0f - w);
}

SONO_HD void adamw_update(float& p, float g, float& m, float& v, const AdamWScalars& s) {
  p = p * s.decay;
  m = lerp_like_torch(m, g, s.one_minus_beta1);
  v = v * s.beta2 + s.one_minus_beta2 * (g * g);
  float denom = sqrtf(v) / s.bias2_sqrt + s.eps;
  p = p - s.step_size * (m / denom);
}

}  // namespace sono
