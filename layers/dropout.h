#pragma once
// Random masking modules. They draw from the RandomContext set on them (see
// Module::set_random_context); in eval mode or with p == 0 they are the
// identity and draw nothing.
#include "layers/module.h"

namespace sono::nn {

enum class MaskKind {
  Element,  // nn.Dropout: one draw per element, mask shape = x's shape
  Plane,    // nn.Dropout2d: one per (sample, channel), mask [N, C, 1, 1]
  Sample,   // drop-connect: one per sample, mask [N, 1, 1, 1]
};

// Applies `kind` masking with drop probability p for `owner` (training only):
// draws from owner's RandomContext generator, or takes the mask from its
// mask_source when one is set. Throws naming the module when no context is set.
Tensor random_mask(const Module& owner, const Tensor& x, double p, MaskKind kind);

// The mask random_mask(owner, x, p, MaskKind::Sample) multiplies x by, [N, 1,
// ...] of 0 or 1/(1 - p), drawn (or taken from mask_source) the same way: for
// the fused drop_connect_add (ops/drop_connect_add.h).
Tensor sample_mask(const Module& owner, const Tensor& x, double p);

class Dropout : public UnaryModule {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  double p() const { return p_; }

 private:
  double p_;
};

class Dropout2d : public UnaryModule {
 public:
  explicit Dropout2d(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace sono::nn
