#pragma once
// What bench_norm.cpp and bench_batch_norm_silu.cpp share: the model's
// BatchNorm shapes and the random inputs of a normalization benchmark.
#include "bench/bench_support.h"

namespace sono::bench {

struct NormShape {
  const char* name;
  int64_t c, h, w;
};

// BN: blk2's expand BN (the largest), a stage-5 expand BN, a stage-6 one.
inline const NormShape kBnShapes[] = {
    {"144x128x128", 144, 128, 128}, {"672x16x16", 672, 16, 16}, {"1632x8x8", 1632, 8, 8}};

struct NormInputs {
  Tensor x, w, b, gy, running_mean, running_var;
};

inline NormInputs make_norm_inputs(Device d, int64_t n, const NormShape& s) {
  NormInputs in;
  in.x = randn({n, s.c, s.h, s.w}, 1, d, 2.0);
  in.w = randn({s.c}, 2, d);
  in.b = randn({s.c}, 3, d);
  in.gy = randn({n, s.c, s.h, s.w}, 4, d);
  in.running_mean = Tensor::zeros({s.c}, DType::F32, d);
  in.running_var = Tensor::full({s.c}, 1.0, DType::F32, d);
  return in;
}

}  // namespace sono::bench
