// Dropout masks on a cuda device (see ops/dropout.h).
//
// Math: mask[i] = mask_keep(rule, philox_uniform(seed, offset + i), p) ? scale : 0,
// with mask_keep (ops/dropout.h) and the Philox stream (core/philox.h) shared
// with the CPU kernel, so both backends draw bit-identical masks.
// Layout: mask contiguous, f32, f64 or bf16 (scale rounded to the mask's dtype).
// Launch: one grid-stride loop; each element is a pure function of its index.
// Outputs: mask is overwritten.
#include "core/cuda/launch.h"
#include "core/philox.h"
#include "ops/dropout.h"

namespace sono::cuda {

namespace {

template <class T>
struct Mask {
  T* mask;
  MaskRule rule;
  double p;
  T keep;
  uint64_t seed, offset;
  __device__ void operator()(int64_t i) const {
    mask[i] = mask_keep(rule, philox_uniform(seed, offset + uint64_t(i)), p) ? keep : scalar_cast<T>(0);
  }
};

}  // namespace

void dropout_mask(MaskRule rule, double p, double scale, uint64_t seed, uint64_t offset, const Tensor& mask) {
  dispatch_real(mask.dtype(), "dropout_mask", [&](auto tag) {
    using T = SONO_TYPE(tag);
    parallel_for(mask.device().index, mask.numel(),
                 Mask<T>{mask.data<T>(), rule, p, scalar_cast<T>(scale), seed, offset});
  });
}

}  // namespace sono::cuda
