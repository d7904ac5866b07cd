#include "ops/pool.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

struct GlobalAvgPool2dBackward final : Node {
  Shape in_shape;
  explicit GlobalAvgPool2dBackward(Shape s) : in_shape(std::move(s)) {}
  const char* name() const override { return "GlobalAvgPool2dBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    Tensor g = gy.contiguous();
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    SONO_DISPATCH_DEVICE(g, "global_avg_pool2d", global_avg_pool2d_backward, g, gx);
    return {gx};
  }
};

}  // namespace

Tensor global_avg_pool2d(const Tensor& input) {
  const char* op = "global_avg_pool2d";
  check_defined_nonempty(input, op, "input");
  check_real(input, op, "input");
  SONO_CHECK(input.dim() == 4, op, "expected an NCHW input, got ", input.describe());
  Tensor x = input.contiguous();
  Tensor y = Tensor::empty({x.size(0), x.size(1), 1, 1}, x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, op, global_avg_pool2d_forward, x, y);
  if (autograd::needs_grad({&input}))
    autograd::record(y, std::make_shared<GlobalAvgPool2dBackward>(x.shape()), {input});
  return y;
}

}  // namespace sono
