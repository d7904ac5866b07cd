// AdamW element updates on the CPU (see optim/adamw.h).
//
// Math: optim/adamw_math.h's adamw_update, shared with the CUDA kernel, with
// the per-step scalars computed in double and rounded once, as PyTorch does.
// Layout: p, g, m (exp_avg), v (exp_avg_sq) contiguous f32 of equal shape.
// Outputs: p, m, v are updated in place; g is read only.
#include "optim/adamw.h"
#include "core/parallel.h"
#include "optim/adamw_math.h"

namespace sono::cpu {

void adamw_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, double lr, double beta1,
                double beta2, double eps, double wd, int64_t step) {
  const AdamWScalars s = adamw_scalars(lr, beta1, beta2, eps, wd, step);
  float* pp = p.data<float>();
  const float* gp = g.data<float>();
  float* mp = m.data<float>();
  float* vp = v.data<float>();
  const int64_t n = p.numel();
  parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) adamw_update(pp[i], gp[i], mp[i], vp[i], s);
  });
}

void adamw_step_multi(const std::vector<AdamWItem>& items) {
  for (const AdamWItem& it : items)
    adamw_step(it.p, it.g, it.m, it.v, it.lr, it.beta1, it.beta2, it.eps, it.weight_decay, it.step);
}

}  // namespace sono::cpu
