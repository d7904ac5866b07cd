#include "ops/softmax.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

// x seen as [outer, n, inner] around dim.
struct Geometry {
  int64_t outer = 1, n = 1, inner = 1;
};

Geometry geometry(const Tensor& x, int64_t dim, const char* op) {
  SONO_CHECK(dim >= -x.dim() && dim < x.dim(), op, "dim ", dim, " out of range for ", x.describe());
  const int d = normalize_dim(dim, size_t(x.dim()), op);
  Geometry g;
  for (int k = 0; k < int(x.dim()); ++k) {
    int64_t s = x.shape()[size_t(k)];
    if (k < d) g.outer *= s;
    else if (k == d) g.n = s;
    else g.inner *= s;
  }
  return g;
}

struct SoftmaxBackward final : Node {
  bool log;
  Geometry geo;
  Tensor y;
  SoftmaxBackward(bool l, Geometry g, Tensor y_) : log(l), geo(g), y(std::move(y_)) {}
  const char* name() const override { return log ? "LogSoftmaxBackward" : "SoftmaxBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    Tensor g = gy.contiguous();
    Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
    SONO_DISPATCH_DEVICE(y, name(), softmax_backward, log, y, g, geo.outer, geo.n, geo.inner, gx);
    return {gx};
  }
  void release_saved() override { y = Tensor(); }
};

Tensor softmax_impl(bool log, const Tensor& input, int64_t dim) {
  const char* op = log ? "log_softmax" : "softmax";
  check_defined_nonempty(input, op, "input");
  check_real(input, op, "input");
  const Geometry geo = geometry(input, dim, op);
  Tensor x = input.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, op, softmax_forward, log, x, geo.outer, geo.n, geo.inner, y);
  if (autograd::needs_grad({&input}))
    autograd::record(y, std::make_shared<SoftmaxBackward>(log, geo, saved(y)), {input});
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(false, x, dim); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(true, x, dim); }

}  // namespace sono
