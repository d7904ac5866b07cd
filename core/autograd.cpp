#include "core/autograd.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>
#include <unordered_set>

#include "core/kernels.h"
#include "core/profile.h"

namespace sono {

namespace {
std::atomic<uint64_t> g_sequence{0};
thread_local bool g_grad_enabled = true;
thread_local autograd::GradReadyHook g_grad_ready;
}  // namespace

Node::Node() : sequence(g_sequence++) {}

uint64_t Node::created() { return g_sequence.load(); }

bool GradMode::enabled() { return g_grad_enabled; }
void GradMode::set_enabled(bool e) { g_grad_enabled = e; }

std::vector<Tensor> AccumulateGrad::apply(const Tensor& g) {
  auto leaf = leaf_.lock();
  if (!leaf) return {};
  SONO_CHECK(g.shape() == leaf->shape, "backward", "gradient ", g.describe(), " does not match leaf ",
             Tensor(leaf).describe());
  if (!leaf->grad) {
    // Own a fresh contiguous buffer: the incoming gradient may alias another node's tensor.
    leaf->grad = g.clone().impl_ptr();
  } else {
    Tensor(leaf->grad).add_(g);
  }
  return {};
}

namespace autograd {

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!GradMode::enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

GradReadyHook set_grad_ready_hook(GradReadyHook hook) {
  std::swap(hook, g_grad_ready);
  return hook;
}

static std::shared_ptr<Node> edge_of(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  if (t.grad_fn()) return t.grad_fn();
  auto& impl = t.impl();
  auto acc = impl.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl.grad_accumulator = acc;
  }
  return acc;
}

Tensor record(Tensor out, std::shared_ptr<Node> node, const std::vector<Tensor>& inputs) {
  node->next.clear();
  for (const Tensor& t : inputs) node->next.push_back(edge_of(t));
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = false;
  return out;
}

void backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  SONO_CHECK(root.requires_grad(), "backward", "tensor ", root.describe(), " does not require grad and has no grad_fn");
  SONO_CHECK(grad.shape() == root.shape(), "backward", "seed gradient ", grad.describe(), " for ", root.describe());
  std::shared_ptr<Node> start = edge_of(root);

  // Count, for every node reachable from start, how many edges lead into it.
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack{start.get()};
  std::unordered_set<Node*> seen{start.get()};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (n->released)
      throw Error(str_cat("backward: the graph through ", n->name(),
                          " was already freed by an earlier backward; pass retain_graph=true to the "
                          "first backward to call it twice"));
    for (auto& nx : n->next) {
      if (!nx) continue;
      deps[nx.get()]++;
      if (seen.insert(nx.get()).second) stack.push_back(nx.get());
    }
  }

  // Kahn's algorithm; ties broken by creation order (latest first), which
  // makes the accumulation order, and so the float result, deterministic.
  auto later = [](Node* a, Node* b) { return a->sequence < b->sequence; };
  std::vector<Node*> ready{start.get()};
  std::unordered_map<Node*, Tensor> pending{{start.get(), grad}};
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), later);
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(pending[n]);
    pending.erase(n);
    // A node that no gradient reached still runs its bookkeeping so that
    // its inputs' dependency counts drop; it just passes nothing on.
    std::vector<Tensor> in_grads;
    if (g.defined()) {
      const profile::Scope scope(profile::enabled() ? std::string("bwd:") + n->name() : std::string());
      in_grads = n->apply(g);
    }
    if (g.defined() && g_grad_ready)
      if (auto* acc = dynamic_cast<AccumulateGrad*>(n))
        if (auto leaf = acc->leaf()) g_grad_ready(Tensor(leaf));
    if (!retain_graph) {
      n->release_saved();
      n->released = !dynamic_cast<AccumulateGrad*>(n);
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      Node* nx = n->next[i].get();
      if (!nx) continue;
      if (i < in_grads.size() && in_grads[i].defined()) {
        auto it = pending.find(nx);
        if (it == pending.end() || !it->second.defined()) {
          pending[nx] = in_grads[i];
        } else {
          // A tensor used more than once: sum its gradients in a new buffer,
          // never in place, because in_grads may alias a saved tensor.
          Tensor sum = it->second.clone();
          sum.add_(in_grads[i]);
          it->second = sum;
        }
      } else {
        pending.emplace(nx, Tensor());
      }
      if (--deps[nx] == 0) {
        ready.push_back(nx);
        std::push_heap(ready.begin(), ready.end(), later);
      }
    }
  }
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  return kernels::sum_to_shape(grad, shape);
}

}  // namespace autograd

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  Tensor seed = grad;
  if (!seed.defined()) {
    SONO_CHECK(numel() == 1, "backward", "an implicit gradient needs a one-element tensor, got ", describe());
    seed = Tensor::full(shape(), 1.0, dtype(), device());
  }
  NoGradGuard no_grad;  // backward itself is never recorded
  autograd::backward(*this, seed, retain_graph);
}

}  // namespace sono
