#include "layers/linear.h"

#include "core/autocast.h"
#include "layers/init.h"
#include "ops/linear.h"

namespace sono::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : UnaryModule("Linear"), in_features_(in_features), out_features_(out_features) {
  SONO_CHECK(in_features > 0 && out_features > 0, "Linear", "invalid sizes in ", in_features, " out ", out_features);
  weight_ = register_parameter("weight", Tensor::zeros({out_features, in_features}));
  if (bias) bias_ = register_parameter("bias", Tensor::zeros({out_features}));
}

Tensor Linear::forward(const Tensor& x) {
  using autocast::Op;
  return linear(autocast::input(Op::Linear, x), autocast::param(Op::Linear, weight_),
                autocast::param(Op::Linear, bias_));
}

void Linear::reset_parameters(Generator& gen) { init::default_conv_linear_(weight_, bias_, gen); }

}  // namespace sono::nn
