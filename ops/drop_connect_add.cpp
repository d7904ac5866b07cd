#include "ops/drop_connect_add.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

constexpr const char* kOp = "drop_connect_add";

struct DropConnectAddBackward final : Node {
  Tensor mask;
  explicit DropConnectAddBackward(Tensor m) : mask(std::move(m)) {}
  const char* name() const override { return "DropConnectAddBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    Tensor gx;
    if (next[0]) {
      Tensor g = gy.contiguous();
      gx = Tensor::empty(g.shape(), g.dtype(), g.device());
      SONO_DISPATCH_DEVICE(g, kOp, drop_connect_add_backward, mask, g, gx);
    }
    return {gx, next[1] ? gy : Tensor()};
  }
  void release_saved() override { mask = Tensor(); }
};

}  // namespace

Tensor drop_connect_add(const Tensor& input, const Tensor& mask, const Tensor& residual) {
  check_defined_nonempty(input, kOp, "input");
  check_defined_nonempty(mask, kOp, "mask");
  check_defined_nonempty(residual, kOp, "residual");
  check_real(input, kOp, "input");
  check_same_dtype(input, residual, kOp);
  check_same_dtype(input, mask, kOp);
  check_same_device(input, residual, kOp);
  check_same_device(input, mask, kOp);
  SONO_CHECK(input.shape() == residual.shape(), kOp, "input ", input.describe(), " and residual ", residual.describe(),
             " must have the same shape");
  SONO_CHECK(input.dim() >= 1 && mask.numel() == input.size(0) && (mask.dim() == 0 || mask.size(0) == input.size(0)),
             kOp, "mask ", mask.describe(), " must hold one value per sample of input ", input.describe());
  Tensor x = input.contiguous(), r = residual.contiguous(), m = mask.detach().contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, kOp, drop_connect_add_forward, x, m, r, out);
  if (autograd::needs_grad({&input, &residual}))
    autograd::record(out, std::make_shared<DropConnectAddBackward>(m), {input, residual});
  return out;
}

}  // namespace sono
