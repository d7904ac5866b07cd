#include "optim/adamw.h"
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
#pragma omp parallel for simd if (n > 65536)
  for (int64_t i = 0; i < n; ++i) adamw_update(pp[i], gp[i], mp[i], vp[i], s);
}

}  // namespace sono::cpu
