#pragma once
// Mixed precision (`--precision bf16`): which ops take bfloat16 inputs and
// which stay in float32, written down once in policy_table() and printed in
// docs/precision.md (tests/model/test_bf16_model.cpp checks the two agree).
//
// The layers and the task losses consult the table at op entry:
//   x = autocast::input(Op::Conv2d, x);     // f32 -> bf16 while autocast is on
//   w = autocast::param(Op::Conv2d, w);     // the cached bf16 copy of the f32 master weight
// Both return their argument unchanged while autocast is off (the default),
// so f32 and f64 work is bit-identical to a build without autocast. Autocast
// is on inside an AutocastGuard(Precision::BF16), per thread, like GradMode.
//
// Master weights and AdamW state stay f32. A bf16 weight copy is a
// differentiable cast (Tensor::to), so the gradient reaches the f32 master
// parameter as f32; it is made once and reused until the parameter's data
// changes (its Storage version: Tensor::fill_/copy_/add_ and AdamW::step bump
// it), until its backward has run, or until the outermost guard closes.
#include <cstdint>
#include <vector>

#include "core/precision.h"
#include "core/tensor.h"

namespace sono {

namespace autocast {

// What an op family does with a floating input at its entry while autocast is on.
enum class Cast {
  BF16,     // f32 inputs are cast to bf16
  FP32,     // bf16 inputs are cast up to f32
  Promote,  // inputs of different float dtypes are cast to the widest; one input keeps its dtype
};

// What the family does with its parameters.
enum class Params {
  None,        // the family has no parameters
  BF16Copy,    // the cached bf16 copy of the f32 master parameter
  FP32Master,  // the f32 master parameter itself (and f32 statistics)
};

enum class Op {
  Conv2d,
  DepthwiseConv2d,
  Linear,
  Elementwise,
  BatchNorm,
  GroupNorm,
  Probability,
  Softmax,
  Loss,
  Reduction,
  ReadOut,
  Optimizer,
};

struct Policy {
  Op op;
  const char* family;  // the row's name in docs/precision.md
  Cast input;
  Params params;
  const char* ops;    // what the family covers
  const char* where;  // where the cast happens
};

// One row per Op, in enum order.
const std::vector<Policy>& policy_table();
const Policy& policy(Op op);
const char* cast_name(Cast c);      // "bf16", "fp32", "promote"
const char* params_name(Params p);  // "-", "bf16 copy", "fp32 master"

// Whether autocast is on in this thread.
bool enabled();

// x as `op` takes it: cast per policy(op).input while autocast is on (f32 ->
// bf16 for Cast::BF16, bf16 -> f32 for Cast::FP32); x itself when autocast is
// off, for Cast::Promote, and for undefined, integer or f64 tensors (gradient
// checks keep their dtype). Differentiable.
Tensor input(Op op, const Tensor& x);
// a and b cast to the wider of their float dtypes (Cast::Promote) while
// autocast is on; unchanged otherwise.
void promote(Tensor& a, Tensor& b);
// The parameter p as `op` uses it: for Params::BF16Copy while autocast is on
// and p is f32, its cached bf16 copy; p itself otherwise (also undefined p).
Tensor param(Op op, const Tensor& p);

// This thread's weight cache: copies held now, and bf16 copies made since the
// thread started (tests observe reuse and refresh through it).
struct CacheStats {
  int64_t entries = 0;
  int64_t casts = 0;
};
CacheStats cache_stats();

}  // namespace autocast

// Turns autocast on (Precision::BF16) or off (FP32, TF32: their float32 math
// is the CUDA backend's, core/precision.h) for a scope of this thread and
// restores the previous state. Leaving the last open scope empties the
// thread's weight cache.
class AutocastGuard {
 public:
  explicit AutocastGuard(Precision p);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace sono
