#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sono {

// One recorded operation of the graph. Every Sono op has exactly one output,
// so a node receives one gradient and returns one gradient per input (an
// undefined Tensor where that input needs none).
class Node {
 public:
  Node();
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  // Drops the tensors saved for backward; called once backward passed this node.
  virtual void release_saved() {}

  // next[i] is the node that receives input i's gradient (null: no gradient).
  std::vector<std::shared_ptr<Node>> next;
  uint64_t sequence;  // creation order; later nodes run first on ties
  bool released = false;

  // Nodes constructed so far in this process (every op that records, and
  // every leaf's AccumulateGrad): inference tests check it does not move.
  static uint64_t created();
};

// Sink node of a leaf that requires grad: adds the incoming gradient into
// the leaf's .grad (creating it on first arrival).
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : leaf_(std::move(leaf)) {}
  const char* name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  std::shared_ptr<TensorImpl> leaf() const { return leaf_.lock(); }

 private:
  std::weak_ptr<TensorImpl> leaf_;
};

// Whether ops record the graph on this thread.
struct GradMode {
  static bool enabled();
  static void set_enabled(bool e);
};

// RAII "with torch.no_grad()".
class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

namespace autograd {

// True when grad mode is on and any input requires grad: the op must record.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Wires `node` to the inputs' producers and makes it out's grad_fn. Inputs
// may be undefined (optional bias). Returns out for chaining.
Tensor record(Tensor out, std::shared_ptr<Node> node, const std::vector<Tensor>& inputs);

// Reverse mode from root with seed gradient grad (same shape as root).
void backward(const Tensor& root, const Tensor& grad, bool retain_graph);

// Called by backward on this thread right after a leaf's AccumulateGrad ran:
// the leaf's gradient of that backward is then complete (the engine runs
// each node once, with its inputs' gradients summed). Data-parallel training
// posts a gradient bucket's all-reduce from here (dist/grad_sync.h) so that
// communication overlaps the rest of backward. Returns the previous hook.
using GradReadyHook = std::function<void(const Tensor& leaf)>;
GradReadyHook set_grad_ready_hook(GradReadyHook hook);

// Gradient of `grad` (shape of a broadcast result) summed back to `shape`.
Tensor sum_to(const Tensor& grad, const Shape& shape);

}  // namespace autograd

// Saved tensors are detached so a node never keeps its own output alive
// through a reference cycle.
inline Tensor saved(const Tensor& t) { return t.defined() ? t.detach() : Tensor(); }

}  // namespace sono
