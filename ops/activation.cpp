#include "ops/activation.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

const char* op_name(Activation a) {
  switch (a) {
    case Activation::SiLU: return "silu";
    case Activation::ReLU: return "relu";
    case Activation::Sigmoid: return "sigmoid";
  }
  return "activation";
}

struct ActivationBackward final : Node {
  Activation act;
  Tensor x, y;  // SiLU/ReLU need x, Sigmoid needs y
  ActivationBackward(Activation a, Tensor x_, Tensor y_) : act(a), x(std::move(x_)), y(std::move(y_)) {}
  const char* name() const override { return "ActivationBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    const Tensor& ref = x.defined() ? x : y;
    Tensor g = gy.contiguous();
    Tensor gx = Tensor::empty(ref.shape(), ref.dtype(), ref.device());
    SONO_DISPATCH_DEVICE(ref, op_name(act), activation_backward, act, x, y, g, gx);
    return {gx};
  }
  void release_saved() override { x = y = Tensor(); }
};

Tensor activation(Activation a, const Tensor& input) {
  const char* op = op_name(a);
  check_defined_nonempty(input, op, "input");
  check_real(input, op, "input");
  Tensor x = input.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, op, activation_forward, a, x, y);
  if (autograd::needs_grad({&input})) {
    bool uses_output = a == Activation::Sigmoid;
    autograd::record(
        y,
        std::make_shared<ActivationBackward>(a, uses_output ? Tensor() : saved(x), uses_output ? saved(y) : Tensor()),
        {input});
  }
  return y;
}

}  // namespace

Tensor silu(const Tensor& x) { return activation(Activation::SiLU, x); }
Tensor relu(const Tensor& x) { return activation(Activation::ReLU, x); }
Tensor sigmoid(const Tensor& x) { return activation(Activation::Sigmoid, x); }

}  // namespace sono
