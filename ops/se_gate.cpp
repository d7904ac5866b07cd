#include "ops/se_gate.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

constexpr const char* kOp = "se_gate";

struct SeGateBackward final : Node {
  Tensor x, s;
  Shape s_shape;
  SeGateBackward(Tensor x_, Tensor s_, Shape shape) : x(std::move(x_)), s(std::move(s_)), s_shape(std::move(shape)) {}
  const char* name() const override { return "SeGateBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    Tensor g = gy.contiguous();
    Tensor gx = next[0] ? Tensor::empty(x.shape(), x.dtype(), x.device()) : Tensor();
    Tensor gs = next[1] ? Tensor::empty(s_shape, s.dtype(), s.device()) : Tensor();
    SONO_DISPATCH_DEVICE(x, kOp, se_gate_backward, x, s, g, gx, gs);
    return {gx, gs};
  }
  void release_saved() override { x = s = Tensor(); }
};

}  // namespace

Tensor se_gate(const Tensor& input, const Tensor& logits) {
  check_defined_nonempty(input, kOp, "input");
  check_defined_nonempty(logits, kOp, "gate logits");
  check_real(input, kOp, "input");
  check_same_dtype(input, logits, kOp);
  check_same_device(input, logits, kOp);
  SONO_CHECK(input.dim() >= 2, kOp, "expected an input [N, C, ...], got ", input.describe());
  bool fits = logits.dim() >= 2 && logits.size(0) == input.size(0) && logits.size(1) == input.size(1) &&
              logits.numel() == input.size(0) * input.size(1);
  SONO_CHECK(fits, kOp, "gate logits ", logits.describe(), " must be [N, C] or [N, C, 1, ...] for input ",
             input.describe());
  Tensor x = input.contiguous(), s = logits.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, kOp, se_gate_forward, x, s, out);
  if (autograd::needs_grad({&input, &logits}))
    autograd::record(out, std::make_shared<SeGateBackward>(saved(x), saved(s), logits.shape()), {input, logits});
  return out;
}

}  // namespace sono
