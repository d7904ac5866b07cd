#include "core/autocast.h"

#include <unordered_map>

#include "core/autograd.h"

namespace sono {

namespace autocast {

namespace {

// A bf16 copy of one parameter and what it was made from. The weak pointers
// keep a freed parameter or storage from matching a new one at the same address.
struct Entry {
  std::weak_ptr<TensorImpl> param;
  std::weak_ptr<Storage> storage;
  uint64_t version = 0;
  Tensor copy;
};

struct State {
  bool enabled = false;
  std::unordered_map<const TensorImpl*, Entry> cache;
  int64_t casts = 0;
};

State& state() {
  thread_local State s;
  return s;
}

bool fresh(const Entry& e, const Tensor& p, bool need_graph) {
  if (e.param.lock() != p.impl_ptr() || e.storage.lock() != p.storage() || e.version != p.storage()->version())
    return false;
  if (!need_graph) return true;
  // A copy made without a graph cannot carry a gradient; one whose backward
  // ran has its node freed (a second backward through it would fail).
  const std::shared_ptr<Node>& fn = e.copy.grad_fn();
  return fn != nullptr && !fn->released;
}

}  // namespace

const std::vector<Policy>& policy_table() {
  // Keep in enum order and in step with the table in docs/precision.md.
  static const std::vector<Policy> table = {
      {Op::Conv2d, "convolution", Cast::BF16, Params::BF16Copy,
       "conv2d: stem, MBConv expand/project 1x1, squeeze-excite 1x1, FPN lateral and 3x3, head convolutions",
       "nn::Conv2d::forward"},
      {Op::DepthwiseConv2d, "depthwise convolution", Cast::BF16, Params::BF16Copy,
       "conv2d with groups == channels (MBConv depthwise)", "nn::Conv2d::forward"},
      {Op::Linear, "linear", Cast::BF16, Params::BF16Copy, "linear (classification and regression heads)",
       "nn::Linear::forward"},
      {Op::Elementwise, "elementwise", Cast::Promote, Params::None,
       "add, mul, ReLU, SiLU, sigmoid, SE gate, drop-connect add, dropout, upsampling, concat, average pooling "
       "(bf16 in, bf16 out, float math and float accumulation inside)",
       "residual adds (nn::MBConvBlock, nn::FPNBlock); the others take their bf16 input as it comes"},
      {Op::BatchNorm, "batch norm", Cast::Promote, Params::FP32Master,
       "batch_norm, batch_norm_silu, sync_batch_norm: bf16 activation in and out, fp32 weight, bias, batch "
       "statistics and running statistics",
       "nn::BatchNorm2d::forward, forward_silu"},
      {Op::GroupNorm, "group norm", Cast::Promote, Params::FP32Master,
       "group_norm: bf16 activation in and out, fp32 weight, bias and group statistics", "nn::GroupNorm::forward"},
      {Op::Probability, "probability output", Cast::FP32, Params::None,
       "the detection head's sigmoid (BCE on a bf16 probability would saturate at 1 - 2^-9)",
       "model::DetectionHead::forward, before its sigmoid"},
      {Op::Softmax, "softmax", Cast::FP32, Params::None, "softmax, log_softmax (losses, metrics, predictions)",
       "their inputs are fp32 by the loss and read-out rows"},
      {Op::Loss, "loss", Cast::FP32, Params::None,
       "Dice, cross-entropy, binary cross-entropy, L1, MSE (the five losses of the four task kinds)",
       "tasks::task_loss: the head output is cast up once"},
      {Op::Reduction, "reduction", Cast::FP32, Params::None,
       "sum, mean of the losses and metrics (every kernel also accumulates bf16 data in float)",
       "their inputs are fp32 by the loss and read-out rows"},
      {Op::ReadOut, "read-out", Cast::FP32, Params::None, "validation metrics, predictions",
       "run_inference (train/inference.cpp): the head output is cast up before metrics and submissions"},
      {Op::Optimizer, "optimizer", Cast::FP32, Params::FP32Master,
       "AdamW: fp32 master weights, fp32 gradients, fp32 exp_avg / exp_avg_sq",
       "AdamW refuses non-f32 parameters and gradients; the bf16 copies' casts return f32 gradients"},
  };
  return table;
}

const Policy& policy(Op op) {
  const auto& t = policy_table();
  const size_t i = size_t(op);
  SONO_CHECK(i < t.size() && t[i].op == op, "autocast", "no policy row for op family ", int(op));
  return t[i];
}

const char* cast_name(Cast c) {
  switch (c) {
    case Cast::BF16: return "bf16";
    case Cast::FP32: return "fp32";
    case Cast::Promote: return "promote";
  }
  return "?";
}

const char* params_name(Params p) {
  switch (p) {
    case Params::None: return "-";
    case Params::BF16Copy: return "bf16 copy";
    case Params::FP32Master: return "fp32 master";
  }
  return "?";
}

bool enabled() { return state().enabled; }

Tensor input(Op op, const Tensor& x) {
  if (!enabled() || !x.defined()) return x;
  switch (policy(op).input) {
    case Cast::BF16: return x.dtype() == DType::F32 ? x.to(DType::BF16) : x;
    case Cast::FP32: return x.dtype() == DType::BF16 ? x.to(DType::F32) : x;
    case Cast::Promote: break;
  }
  return x;
}

void promote(Tensor& a, Tensor& b) {
  if (!enabled() || !a.defined() || !b.defined() || a.dtype() == b.dtype()) return;
  if (!is_floating(a.dtype()) || !is_floating(b.dtype())) return;
  // bf16 < f32 < f64: the wider one is the larger element.
  if (dtype_size(a.dtype()) < dtype_size(b.dtype())) a = a.to(b.dtype());
  else b = b.to(a.dtype());
}

Tensor param(Op op, const Tensor& p) {
  if (!enabled() || !p.defined() || p.dtype() != DType::F32 || policy(op).params != Params::BF16Copy) return p;
  State& s = state();
  const bool need_graph = GradMode::enabled() && p.requires_grad();
  auto it = s.cache.find(p.impl_ptr().get());
  if (it != s.cache.end() && fresh(it->second, p, need_graph)) return it->second.copy;
  Entry e{p.impl_ptr(), p.storage(), p.storage()->version(), p.to(DType::BF16)};
  ++s.casts;
  Tensor copy = e.copy;
  s.cache[p.impl_ptr().get()] = std::move(e);
  return copy;
}

CacheStats cache_stats() {
  const State& s = state();
  return {int64_t(s.cache.size()), s.casts};
}

}  // namespace autocast

AutocastGuard::AutocastGuard(Precision p) : previous_(autocast::state().enabled) {
  autocast::state().enabled = p == Precision::BF16;
}

AutocastGuard::~AutocastGuard() {
  autocast::State& s = autocast::state();
  s.enabled = previous_;
  if (!s.enabled) s.cache.clear();
}

}  // namespace sono
