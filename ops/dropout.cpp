#include "ops/dropout.h"

#include "core/backend.h"
#include "ops/binary.h"

namespace sono {

namespace {

// The random ops are x * m where m holds 0 or 1/(1-p) (PyTorch's "noise"
// tensor) with shape x.shape()[:mask_dims] followed by ones: one draw per
// element (dropout), per (n, c) plane (dropout2d) or per sample
// (drop_connect). mul's broadcast fast path applies it, and its backward
// reuses the saved m.
// The mask m alone (undefined when nothing is dropped).
Tensor draw_mask(const char* op, MaskRule rule, const Tensor& x, double p, bool training, Generator& gen,
                 int64_t mask_dims, const char* layout) {
  check_defined_nonempty(x, op, "input");
  check_real(x, op, "input");
  SONO_CHECK(p >= 0.0 && p < 1.0, op, "drop probability ", p, " outside [0, 1) for input ", x.describe());
  SONO_CHECK(x.dim() >= mask_dims, op, "expected an input ", layout, ", got ", x.describe());
  if (!training || p == 0.0) return Tensor();
  Shape mask_shape(size_t(x.dim()), 1);
  for (int64_t d = 0; d < mask_dims; ++d) mask_shape[size_t(d)] = x.shape()[size_t(d)];
  Tensor mask = Tensor::empty(mask_shape, x.dtype(), x.device());
  const uint64_t offset = gen.take(uint64_t(mask.numel()));
  SONO_DISPATCH_DEVICE(x, op, dropout_mask, rule, p, 1.0 / (1.0 - p), gen.seed, offset, mask);
  return mask;
}

Tensor random_mask_op(const char* op, MaskRule rule, const Tensor& x, double p, bool training, Generator& gen,
                      int64_t mask_dims, const char* layout) {
  Tensor mask = draw_mask(op, rule, x, p, training, gen, mask_dims, layout);
  return mask.defined() ? mul(x, mask) : x;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator& gen) {
  return random_mask_op("dropout", MaskRule::Bernoulli, x, p, training, gen, x.defined() ? x.dim() : 0, "of any shape");
}

Tensor dropout2d(const Tensor& x, double p, bool training, Generator& gen) {
  return random_mask_op("dropout2d", MaskRule::Bernoulli, x, p, training, gen, 2, "[N, C, ...]");
}

Tensor drop_connect(const Tensor& x, double p, bool training, Generator& gen) {
  return random_mask_op("drop_connect", MaskRule::Floor, x, p, training, gen, 1, "[N, ...]");
}

Tensor drop_connect_mask(const Tensor& x, double p, bool training, Generator& gen) {
  return draw_mask("drop_connect", MaskRule::Floor, x, p, training, gen, 1, "[N, ...]");
}

Tensor apply_mask(const Tensor& x, const Tensor& mask, double scale) {
  const char* op = "apply_mask";
  check_defined_nonempty(x, op, "input");
  check_defined_nonempty(mask, op, "mask");
  check_real(x, op, "input");
  check_same_device(x, mask, op);
  bool fits = mask.dim() <= x.dim();
  for (int64_t d = 1; fits && d <= mask.dim(); ++d) {
    int64_t m = mask.shape()[size_t(mask.dim() - d)];
    fits = m == 1 || m == x.shape()[size_t(x.dim() - d)];
  }
  SONO_CHECK(fits, op, "mask ", mask.describe(), " does not broadcast to input ", x.describe());
  // The mask is a constant: detached, so no gradient ever reaches it.
  Tensor m = mul_scalar(mask.detach().to(x.dtype()), scale);
  return mul(x, m);
}

}  // namespace sono
