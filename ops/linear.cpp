#include "ops/linear.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

constexpr const char* kOp = "linear";

void check_linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_defined_nonempty(x, kOp, "input");
  check_defined_nonempty(weight, kOp, "weight");
  check_real(x, kOp, "input");
  check_same_dtype(x, weight, kOp);
  check_same_device(x, weight, kOp);
  SONO_CHECK(x.dim() == 2, kOp, "input ", x.describe(), " must be 2-d [N, in]");
  SONO_CHECK(weight.dim() == 2 && weight.size(1) == x.size(1), kOp, "weight ", weight.describe(), " must be [out, ",
             x.size(1), "] for input ", x.describe());
  if (bias.defined()) {
    check_same_dtype(x, bias, kOp);
    check_same_device(x, bias, kOp);
    SONO_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), kOp, "bias ", bias.describe(), " must be [",
               weight.size(0), "] for weight ", weight.describe());
  }
}

struct LinearBackward final : Node {
  Tensor x, weight;  // contiguous, detached; x only when the weight needs a gradient
  Shape x_shape;
  LinearBackward(Tensor x_, Tensor w_, Shape xs) : x(std::move(x_)), weight(std::move(w_)), x_shape(std::move(xs)) {}
  const char* name() const override { return "LinearBackward"; }
  std::vector<Tensor> apply(const Tensor& grad) override {
    Tensor gy = grad.contiguous();
    Tensor gx = next[0] ? Tensor::empty(x_shape, weight.dtype(), weight.device()) : Tensor();
    Tensor gw = next[1] ? Tensor::empty(weight.shape(), weight.dtype(), weight.device()) : Tensor();
    Tensor gb = next[2] ? Tensor::empty({weight.size(0)}, weight.dtype(), weight.device()) : Tensor();
    SONO_DISPATCH_DEVICE(gy, kOp, linear_backward, x, weight, gy, gx, gw, gb);
    return {gx, gw, gb};
  }
  void release_saved() override { x = weight = Tensor(); }
};

}  // namespace

Tensor linear(const Tensor& input, const Tensor& weight_in, const Tensor& bias_in) {
  check_linear(input, weight_in, bias_in);
  Tensor x = input.contiguous(), weight = weight_in.contiguous();
  Tensor bias = bias_in.defined() ? bias_in.contiguous() : Tensor();
  Tensor y = Tensor::empty({x.size(0), weight.size(0)}, x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, kOp, linear_forward, x, weight, bias, y);
  if (autograd::needs_grad({&input, &weight_in, &bias_in}))
    autograd::record(
        y, std::make_shared<LinearBackward>(weight_in.requires_grad() ? saved(x) : Tensor(), saved(weight), x.shape()),
        {input, weight_in, bias_in});
  return y;
}

}  // namespace sono
