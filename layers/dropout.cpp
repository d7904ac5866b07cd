#include "layers/dropout.h"

#include "ops/binary.h"
#include "ops/dropout.h"

namespace sono::nn {

namespace {
Shape mask_shape(const Tensor& x, MaskKind kind) {
  if (kind == MaskKind::Element) return x.shape();
  Shape s(x.shape().size(), 1);
  s[0] = x.size(0);
  if (kind == MaskKind::Plane) s[1] = x.size(1);
  return s;
}

void check_probability(double p, const char* op) {
  SONO_CHECK(p >= 0.0 && p < 1.0, op, "drop probability must be in [0, 1), got ", p);
}

// The owner's RandomContext, after checking x has the dims `kind` masks.
RandomContext& context_for(const Module& owner, const Tensor& x, MaskKind kind) {
  const char* op = owner.type_name().c_str();
  SONO_CHECK(x.defined() && x.dim() >= (kind == MaskKind::Element ? 1 : 2), op, "input for '", owner.name(),
             "' must have a batch", kind == MaskKind::Plane ? " and a channel" : "", " dimension, got ", describe(x));
  RandomContext* ctx = owner.random_context();
  SONO_CHECK(ctx != nullptr, op, "module '", owner.name(),
             "' needs random numbers in training mode but has no RandomContext (Module::set_random_context)");
  return *ctx;
}

// The unscaled 0/1 mask mask_source gives for `owner`, on x's device and dtype.
Tensor imported_mask(const Module& owner, const RandomContext& ctx, const Tensor& x, MaskKind kind) {
  const Shape shape = mask_shape(x, kind);
  Tensor mask = ctx.mask_source(owner.name(), shape);
  SONO_CHECK(mask.defined() && mask.shape() == shape, owner.type_name().c_str(), "mask_source for '", owner.name(),
             "' returned ", describe(mask), ", expected shape ", shape_str(shape));
  return mask.to(x.device()).to(x.dtype());
}

// draw(generator) for this rank's shard of the global batch: with a shard
// set (data-parallel training, docs/distributed.md), the Philox stream is
// positioned at the shard's first sample and then advanced past the whole
// global batch, so every sample's mask is the one a single process draws.
template <class Draw>
Tensor draw_for_shard(const Module& owner, RandomContext& ctx, const Tensor& x, MaskKind kind, Draw draw) {
  if (ctx.shard_total <= 0) return draw(ctx.generator);
  // Words per sample: elements, planes or one (masks are sample-major).
  const int64_t n = x.size(0);
  SONO_CHECK(ctx.shard_first >= 0 && ctx.shard_first + n <= ctx.shard_total, owner.type_name().c_str(), "shard [",
             ctx.shard_first, ", ", ctx.shard_first + n, ") of '", owner.name(), "' is outside the global batch of ",
             ctx.shard_total);
  const uint64_t per = uint64_t(kind == MaskKind::Element ? x.numel() / n : kind == MaskKind::Plane ? x.size(1) : 1);
  const uint64_t start = ctx.generator.offset;
  ctx.generator.offset = start + uint64_t(ctx.shard_first) * per;
  Tensor y = draw(ctx.generator);
  ctx.generator.offset = start + uint64_t(ctx.shard_total) * per;
  return y;
}

}  // namespace

Tensor random_mask(const Module& owner, const Tensor& x, double p, MaskKind kind) {
  RandomContext& ctx = context_for(owner, x, kind);
  if (ctx.mask_source) return apply_mask(x, imported_mask(owner, ctx, x, kind), 1.0 / (1.0 - p));
  return draw_for_shard(owner, ctx, x, kind, [&](Generator& gen) {
    switch (kind) {
      case MaskKind::Element: return dropout(x, p, true, gen);
      case MaskKind::Plane: return dropout2d(x, p, true, gen);
      case MaskKind::Sample: return drop_connect(x, p, true, gen);
    }
    return x;
  });
}

Tensor sample_mask(const Module& owner, const Tensor& x, double p) {
  RandomContext& ctx = context_for(owner, x, MaskKind::Sample);
  // apply_mask's scaling, so both paths multiply x by the same values.
  if (ctx.mask_source) return mul_scalar(imported_mask(owner, ctx, x, MaskKind::Sample).detach(), 1.0 / (1.0 - p));
  return draw_for_shard(owner, ctx, x, MaskKind::Sample,
                        [&](Generator& gen) { return drop_connect_mask(x, p, true, gen); });
}

Dropout::Dropout(double p) : UnaryModule("Dropout"), p_(p) { check_probability(p, "Dropout"); }

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p_ == 0.0) return x;
  return random_mask(*this, x, p_, MaskKind::Element);
}

Dropout2d::Dropout2d(double p) : UnaryModule("Dropout2d"), p_(p) { check_probability(p, "Dropout2d"); }

Tensor Dropout2d::forward(const Tensor& x) {
  if (!is_training() || p_ == 0.0) return x;
  return random_mask(*this, x, p_, MaskKind::Plane);
}

}  // namespace sono::nn
