#pragma once
// BatchNorm statistics and affine parameters far from the identity, for the
// folding tests (tests/model/test_fold_batchnorm.cpp, tests/train/test_predict_fold.cpp):
// a fold that ignored any of them, or a pair left unfolded, would be off by O(1).
// Header-only: the layers are linked by the suites that include it, not by sono_test_support.
#include "core/autograd.h"
#include "layers/norm.h"
#include "tests/support/check.h"

namespace sono::test {

inline void randomize_batchnorm(nn::BatchNorm2d& bn, uint64_t seed) {
  NoGradGuard ng;
  const int64_t c = bn.num_features();
  const DType dt = bn.weight().dtype();
  bn.weight().copy_(rand_uniform({c}, 0.5, 2.0, seed, dt));
  bn.bias().copy_(randn({c}, seed + 1, dt));
  bn.running_mean().copy_(randn({c}, seed + 2, dt));
  bn.running_var().copy_(rand_uniform({c}, 0.1, 3.0, seed + 3, dt));
}

// Every BatchNorm2d under `m`, each with its own seed.
inline void randomize_batchnorms(nn::Module& m, uint64_t seed) {
  for (auto& [name, mod] : m.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(mod)) randomize_batchnorm(*bn, seed += 10);
}

}  // namespace sono::test
