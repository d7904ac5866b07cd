#include "ops/upsample.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

void check_nchw(const Tensor& x, const char* op) {
  check_defined_nonempty(x, op, "input");
  check_real(x, op, "input");
  SONO_CHECK(x.dim() == 4, op, "expected an NCHW input, got ", x.describe());
}

struct UpsampleNearest2xBackward final : Node {
  Shape in_shape;
  explicit UpsampleNearest2xBackward(Shape s) : in_shape(std::move(s)) {}
  const char* name() const override { return "UpsampleNearest2xBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    Tensor g = gy.contiguous();
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    SONO_DISPATCH_DEVICE(g, "upsample_nearest2x", upsample_nearest2x_backward, g, gx);
    return {gx};
  }
};

struct UpsampleBilinear2dBackward final : Node {
  Shape in_shape;
  bool align_corners;
  UpsampleBilinear2dBackward(Shape s, bool ac) : in_shape(std::move(s)), align_corners(ac) {}
  const char* name() const override { return "UpsampleBilinear2dBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    Tensor g = gy.contiguous();
    Tensor gx = Tensor::empty(in_shape, g.dtype(), g.device());
    SONO_DISPATCH_DEVICE(g, "upsample_bilinear2d", upsample_bilinear2d_backward, g, gx, align_corners);
    return {gx};
  }
};

}  // namespace

Tensor upsample_nearest2x(const Tensor& input) {
  const char* op = "upsample_nearest2x";
  check_nchw(input, op);
  Tensor x = input.contiguous();
  Tensor y = Tensor::empty({x.size(0), x.size(1), 2 * x.size(2), 2 * x.size(3)}, x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, op, upsample_nearest2x_forward, x, y);
  if (autograd::needs_grad({&input}))
    autograd::record(y, std::make_shared<UpsampleNearest2xBackward>(x.shape()), {input});
  return y;
}

Tensor upsample_bilinear2d(const Tensor& input, int64_t out_h, int64_t out_w, bool align_corners) {
  const char* op = "upsample_bilinear2d";
  check_nchw(input, op);
  SONO_CHECK(out_h > 0 && out_w > 0, op, "output size (", out_h, ", ", out_w, ") for input ", input.describe(),
             " must be positive");
  Tensor x = input.contiguous();
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, op, upsample_bilinear2d_forward, x, y, align_corners);
  if (autograd::needs_grad({&input}))
    autograd::record(y, std::make_shared<UpsampleBilinear2dBackward>(x.shape(), align_corners), {input});
  return y;
}

}  // namespace sono
