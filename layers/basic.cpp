#include "layers/basic.h"

#include "ops/activation.h"
#include "ops/pool.h"
#include "ops/upsample.h"

namespace sono::nn {

Tensor ReLU::forward(const Tensor& x) { return relu(x); }
Tensor SiLU::forward(const Tensor& x) { return silu(x); }
Tensor GlobalAvgPool2d::forward(const Tensor& x) { return global_avg_pool2d(x); }

Tensor upsample_bilinear_aligned(const Tensor& x, int64_t scale) {
  SONO_CHECK(x.defined() && x.dim() == 4, "upsample_bilinear", "expected an NCHW input, got ", describe(x));
  return upsample_bilinear2d(x, x.size(2) * scale, x.size(3) * scale, /*align_corners=*/true);
}

Tensor UpsamplingBilinear2d::forward(const Tensor& x) { return upsample_bilinear_aligned(x, scale_); }

}  // namespace sono::nn
