#include "ops/binary.h"

#include <algorithm>

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

const char* op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add: return "add";
    case BinaryOp::Sub: return "sub";
    case BinaryOp::Mul: return "mul";
    case BinaryOp::Div: return "div";
  }
  return "binary";
}

// The broadcast shape of a and b; the error names both tensors.
Shape broadcast_result(const Tensor& a, const Tensor& b, const char* op) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  size_t n = std::max(sa.size(), sb.size());
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - sa.size() ? 1 : sa[i - (n - sa.size())];
    int64_t db = i < n - sb.size() ? 1 : sb[i - (n - sb.size())];
    SONO_CHECK(da == db || da == 1 || db == 1, op, a.describe(), " and ", b.describe(),
               " cannot be broadcast together (dim ", i, " of the result: ", da, " vs ", db, ")");
  }
  return broadcast_shapes(sa, sb, op);
}

struct BinaryBackward final : Node {
  BinaryOp op;
  Shape a_shape, b_shape;
  Tensor a, b;  // only what the needed gradients read (mul, div)
  BinaryBackward(BinaryOp o, Shape sa, Shape sb, Tensor a_, Tensor b_)
      : op(o), a_shape(std::move(sa)), b_shape(std::move(sb)), a(std::move(a_)), b(std::move(b_)) {}
  const char* name() const override { return "BinaryBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override {
    const bool need_a = next[0] != nullptr, need_b = next[1] != nullptr;
    Tensor ga, gb;
    switch (op) {
      case BinaryOp::Add:
        ga = g;
        gb = g;
        break;
      case BinaryOp::Sub:
        ga = g;
        if (need_b) gb = neg(g);
        break;
      case BinaryOp::Mul:
        if (need_a) ga = mul(g, b);
        if (need_b) gb = mul(g, a);
        break;
      case BinaryOp::Div:
        // PyTorch's formulas: d/da = g / b, d/db = -g * ((a / b) / b).
        if (need_a) ga = div(g, b);
        if (need_b) gb = neg(mul(g, div(div(a, b), b)));
        break;
    }
    return {need_a ? autograd::sum_to(ga, a_shape) : Tensor(), need_b ? autograd::sum_to(gb, b_shape) : Tensor()};
  }
  void release_saved() override { a = b = Tensor(); }
};

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_defined_nonempty(a, name, "first operand");
  check_defined_nonempty(b, name, "second operand");
  check_real(a, name, "first operand");
  check_real(b, name, "second operand");
  check_same_dtype(a, b, name);
  check_same_device(a, b, name);
  Shape shape = broadcast_result(a, b, name);
  Tensor ac = a.contiguous(), bc = b.contiguous();
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  SONO_DISPATCH_DEVICE(a, name, binary_forward, op, ac, bc, out);
  if (autograd::needs_grad({&a, &b})) {
    // mul and div read the other operand for each gradient; save only those needed.
    bool reads = op == BinaryOp::Mul || op == BinaryOp::Div;
    bool ga = a.requires_grad(), gb = b.requires_grad();
    Tensor keep_a = reads && gb ? saved(a) : Tensor();
    Tensor keep_b = reads && (ga || (gb && op == BinaryOp::Div)) ? saved(b) : Tensor();
    autograd::record(out, std::make_shared<BinaryBackward>(op, a.shape(), b.shape(), keep_a, keep_b), {a, b});
  }
  return out;
}

struct AffineBackward final : Node {
  double alpha;
  explicit AffineBackward(double a) : alpha(a) {}
  const char* name() const override { return "AffineBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override { return {alpha == 1.0 ? g : mul_scalar(g, alpha)}; }
};

// out = alpha * x + beta: the scalar variants.
Tensor affine(const Tensor& x, double alpha, double beta, const char* op) {
  check_defined_nonempty(x, op, "input");
  check_real(x, op, "input");
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, op, affine_forward, xc, alpha, beta, out);
  if (autograd::needs_grad({&x})) autograd::record(out, std::make_shared<AffineBackward>(alpha), {x});
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor add_scalar(const Tensor& a, double s) { return affine(a, 1.0, s, "add_scalar"); }
Tensor mul_scalar(const Tensor& a, double s) { return affine(a, s, 0.0, "mul_scalar"); }
Tensor neg(const Tensor& a) { return affine(a, -1.0, 0.0, "neg"); }

}  // namespace sono
