#include "layers/squeeze_excite.h"

#include "layers/fusion.h"
#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/pool.h"
#include "ops/se_gate.h"

namespace sono::nn {

Tensor squeeze_excite(const Tensor& x, Conv2d& reduce, Conv2d& expand) {
  Tensor s = expand.forward(silu(reduce.forward(global_avg_pool2d(x))));
  return fused_ops_enabled() ? se_gate(x, s) : mul(sigmoid(s), x);
}

SqueezeExcite::SqueezeExcite(int64_t channels, int64_t squeeze_channels) : UnaryModule("SqueezeExcite") {
  reduce_ = register_module("_se_reduce", std::make_shared<Conv2d>(channels, squeeze_channels, 1));
  expand_ = register_module("_se_expand", std::make_shared<Conv2d>(squeeze_channels, channels, 1));
}

}  // namespace sono::nn
