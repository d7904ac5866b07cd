#include "ops/loss.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

// Checks the float logits of a classification loss: defined, non-empty, f32/f64.
void check_logits(const char* op, const Tensor& logits, int64_t dims, const char* layout) {
  check_defined_nonempty(logits, op, "logits");
  check_real(logits, op, "logits");
  SONO_CHECK(logits.dim() == dims, op, "logits ", logits.describe(), " must be ", layout);
}

// A class-index target for logits [B, C, ...]: i64 of shape [B, ...] with
// every value in [0, C). `contiguous_target` is the target the kernel reads.
void check_class_target(const char* op, const Tensor& logits, const Tensor& target, const Tensor& contiguous_target) {
  SONO_CHECK(target.defined(), op, "target is an undefined tensor");
  SONO_CHECK(target.dtype() == DType::I64, op, "target ", target.describe(), " must hold i64 class indices");
  check_same_device(logits, target, op);
  Shape expected = logits.shape();
  expected.erase(expected.begin() + 1);
  SONO_CHECK(target.shape() == expected, op, "target ", target.describe(), " does not match logits ", logits.describe(),
             ": expected target shape ", shape_str(expected));
  const int64_t classes = logits.size(1);
  int64_t lo = 0, hi = 0;
  SONO_DISPATCH_DEVICE(target, op, class_index_range, contiguous_target, &lo, &hi);
  const int64_t bad = lo < 0 ? lo : hi;
  SONO_CHECK(lo >= 0 && hi < classes, op, "target ", target.describe(), " holds class ", bad, ", outside [0, ", classes,
             ") for logits ", logits.describe());
}

struct DiceLossBackward final : Node {
  Tensor logits, target, stats;
  double smooth, eps;
  DiceLossBackward(Tensor z, Tensor y, Tensor s, double sm, double e)
      : logits(std::move(z)), target(std::move(y)), stats(std::move(s)), smooth(sm), eps(e) {}
  const char* name() const override { return "DiceLossBackward"; }
  std::vector<Tensor> apply(const Tensor& grad_loss) override {
    Tensor g = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
    SONO_DISPATCH_DEVICE(logits, "dice_loss", dice_loss_backward, logits, target, stats, smooth, eps,
                         grad_loss.contiguous(), g);
    return {g, Tensor()};
  }
  void release_saved() override { logits = target = stats = Tensor(); }
};

struct CrossEntropyBackward final : Node {
  Tensor logits, target;
  CrossEntropyBackward(Tensor z, Tensor y) : logits(std::move(z)), target(std::move(y)) {}
  const char* name() const override { return "CrossEntropyBackward"; }
  std::vector<Tensor> apply(const Tensor& grad_loss) override {
    Tensor g = Tensor::empty(logits.shape(), logits.dtype(), logits.device());
    SONO_DISPATCH_DEVICE(logits, "cross_entropy", cross_entropy_backward, logits, target, grad_loss.contiguous(), g);
    return {g, Tensor()};
  }
  void release_saved() override { logits = target = Tensor(); }
};

const char* op_name(PointwiseLoss kind) {
  switch (kind) {
    case PointwiseLoss::MSE: return "mse_loss";
    case PointwiseLoss::BCEWithLogits: return "bce_with_logits";
    case PointwiseLoss::L1: return "l1_loss";
  }
  return "pointwise_loss";
}

struct PointwiseLossBackward final : Node {
  PointwiseLoss kind;
  Tensor input, target;
  PointwiseLossBackward(PointwiseLoss k, Tensor x, Tensor t) : kind(k), input(std::move(x)), target(std::move(t)) {}
  const char* name() const override { return "PointwiseLossBackward"; }
  std::vector<Tensor> apply(const Tensor& grad_loss) override {
    auto grad_if_needed = [&](size_t i) {
      return next[i] ? Tensor::empty(input.shape(), input.dtype(), input.device()) : Tensor();
    };
    Tensor gx = grad_if_needed(0), gt = grad_if_needed(1);
    SONO_DISPATCH_DEVICE(input, op_name(kind), pointwise_loss_backward, kind, input, target, grad_loss.contiguous(), gx,
                         gt);
    return {gx, gt};
  }
  void release_saved() override { input = target = Tensor(); }
};

Tensor pointwise_loss(PointwiseLoss kind, const Tensor& input, const Tensor& target) {
  const char* op = op_name(kind);
  check_defined_nonempty(input, op, "input");
  check_defined_nonempty(target, op, "target");
  check_real(input, op, "input");
  check_same_dtype(input, target, op);
  check_same_device(input, target, op);
  SONO_CHECK(input.shape() == target.shape(), op, "input ", input.describe(), " and target ", target.describe(),
             " must have the same shape");
  Tensor x = input.contiguous(), t = target.contiguous();
  Tensor loss = Tensor::empty({}, x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, op, pointwise_loss_forward, kind, x, t, loss);
  if (autograd::needs_grad({&input, &target}))
    autograd::record(loss, std::make_shared<PointwiseLossBackward>(kind, saved(x), saved(t)), {input, target});
  return loss;
}

}  // namespace

Tensor dice_loss(const Tensor& logits, const Tensor& target, double smooth, double eps) {
  const char* op = "dice_loss";
  check_logits(op, logits, 4, "[B, C, H, W]");
  Tensor z = logits.contiguous(), y = target.defined() ? target.contiguous() : target;
  check_class_target(op, logits, target, y);
  Tensor stats = Tensor::empty({logits.size(1), 3}, DType::F64, z.device());
  Tensor loss = Tensor::empty({}, z.dtype(), z.device());
  SONO_DISPATCH_DEVICE(z, op, dice_loss_forward, z, y, smooth, eps, stats, loss);
  if (autograd::needs_grad({&logits}))
    autograd::record(loss, std::make_shared<DiceLossBackward>(saved(z), saved(y), stats, smooth, eps),
                     {logits, target});
  return loss;
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target) {
  const char* op = "cross_entropy";
  check_logits(op, logits, 2, "[B, C]");
  Tensor z = logits.contiguous(), y = target.defined() ? target.contiguous() : target;
  check_class_target(op, logits, target, y);
  Tensor loss = Tensor::empty({}, z.dtype(), z.device());
  SONO_DISPATCH_DEVICE(z, op, cross_entropy_forward, z, y, loss);
  if (autograd::needs_grad({&logits}))
    autograd::record(loss, std::make_shared<CrossEntropyBackward>(saved(z), saved(y)), {logits, target});
  return loss;
}

Tensor mse_loss(const Tensor& input, const Tensor& target) { return pointwise_loss(PointwiseLoss::MSE, input, target); }
Tensor bce_with_logits(const Tensor& input, const Tensor& target) {
  return pointwise_loss(PointwiseLoss::BCEWithLogits, input, target);
}
Tensor l1_loss(const Tensor& input, const Tensor& target) { return pointwise_loss(PointwiseLoss::L1, input, target); }

}  // namespace sono
