#pragma once
// Module: a tree of named parameters, buffers and child modules with
// PyTorch's naming and ordering, so state dicts line up key for key with
// torch.nn.Module.state_dict().
//
// Order (as in PyTorch): a module's own parameters, then its own buffers,
// then each child recursively, children in registration order. Every
// parameter and buffer carries its full dotted name (Tensor::name) so op
// errors name the offending weight; names are refreshed whenever a subtree is
// attached to a parent.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/philox.h"
#include "core/tensor.h"
#include "io/named_tensors.h"
#include "io/state_dict.h"

namespace sono::nn {

// Where random modules (Dropout, Dropout2d, drop-connect) draw their masks.
// A model owns one and hands it to its subtree with set_random_context; a
// subtree may be given its own (e.g. to observe that a part drew nothing).
struct RandomContext {
  Generator generator;
  // Optional: replaces drawing with a given 0/1 keep mask (parity tests that
  // import PyTorch's masks). Called with the module's dotted name and the
  // mask shape (see the module); must return a tensor of that shape.
  std::function<Tensor(const std::string& module_name, const Shape& mask_shape)> mask_source;

  // Data-parallel training: this process holds samples [shard_first,
  // shard_first + N) of a global batch of shard_total (0: the whole batch).
  // A mask then takes the stream words of its own samples and the generator
  // advances past the whole global batch's, so every sample's mask depends on
  // its global index only, whatever the number of ranks.
  int64_t shard_first = 0, shard_total = 0;

  explicit RandomContext(uint64_t seed = 0) : generator(seed) {}
};

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // "Conv2d", "BatchNorm2d", ... (for messages and printing).
  const std::string& type_name() const { return type_name_; }
  // Dotted path of this module from its root ("" for a root).
  std::string name() const;

  // ---- registration (names: non-empty, no '.', unique within the module) --
  // Parameters become leaves that require grad; values are kept (not copied).
  Tensor register_parameter(const std::string& name, Tensor value);
  Tensor register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    attach_child(name, child);
    return child;
  }

  // ---- traversal (PyTorch order, dotted names relative to this module) ---
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  NamedTensors state_dict() const;  // parameters and buffers, interleaved per module
  std::vector<Tensor> parameters() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  // This module (name "") and every descendant, pre-order.
  std::vector<std::pair<std::string, Module*>> named_modules();
  // Parameter or buffer by dotted name; throws naming the key when absent.
  Tensor tensor(const std::string& dotted_name) const;
  // Descendant by dotted name ("" is this module); throws when absent.
  Module& module(const std::string& dotted_name);
  int64_t num_parameters() const;  // total elements of all parameters

  // ---- modes ---------------------------------------------------------------
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Drops every parameter's gradient (zero_grad(set_to_none=True)).
  void zero_grad();
  // Moves parameters and buffers in place: every Tensor handle held elsewhere
  // (optimizer state keys, layer members) keeps pointing at the moved data.
  void to(Device device);
  // Converts floating parameters and buffers in place (integer buffers such as
  // num_batches_tracked keep their dtype). Gradients are dropped.
  void to(DType float_dtype);

  void set_random_context(const std::shared_ptr<RandomContext>& ctx);
  RandomContext* random_context() const { return random_.get(); }

  // Called on every module after load_state_dict wrote new values, so
  // modules that cache state on the host can refresh it.
  virtual void on_state_loaded() {}

 protected:
  // Own (non-recursive) entries, for subclasses that need them.
  const NamedTensors& own_parameters() const { return params_; }
  const NamedTensors& own_buffers() const { return buffers_; }

 private:
  void attach_child(const std::string& name, const std::shared_ptr<Module>& child);
  void check_new_name(const std::string& name) const;
  void set_prefix(const std::string& prefix);  // renames the whole subtree
  void collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const;
  template <class F>
  void for_each_tensor(F&& f);

  std::string type_name_;
  std::string prefix_;  // "a.b." for module a.b; "" for a root
  bool has_parent_ = false;
  bool training_ = true;
  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  std::shared_ptr<RandomContext> random_;
};

// A module with one input and one output (what Sequential chains).
class UnaryModule : public Module {
 public:
  using Module::Module;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

// Children named "0", "1", ... in insertion order (nn.ModuleList). Base lets
// Sequential reuse it as a UnaryModule.
template <class M, class Base = Module>
class ModuleList : public Base {
 public:
  explicit ModuleList(std::string type_name = "ModuleList") : Base(std::move(type_name)) {}
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    this->register_module(std::to_string(items_.size()), m);
    items_.push_back(m);
    return m;
  }
  size_t size() const { return items_.size(); }
  M& operator[](size_t i) const { return *items_.at(i); }
  const std::vector<std::shared_ptr<M>>& items() const { return items_; }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

// nn.Sequential: forward runs the children in order.
class Sequential : public ModuleList<UnaryModule, UnaryModule> {
 public:
  explicit Sequential(std::string type_name = "Sequential")
      : ModuleList<UnaryModule, UnaryModule>(std::move(type_name)) {}
  Tensor forward(const Tensor& x) override;
};

// Children keyed by string in insertion order (nn.ModuleDict).
template <class M>
class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  std::shared_ptr<M> insert(const std::string& key, std::shared_ptr<M> m) {
    register_module(key, m);
    items_.emplace_back(key, m);
    return m;
  }
  bool contains(const std::string& key) const { return find(key) != nullptr; }
  M& at(const std::string& key) const {
    M* m = find(key);
    SONO_CHECK(m != nullptr, "ModuleDict", "no entry '", key, "' in '", name(), "'");
    return *m;
  }
  const std::vector<std::pair<std::string, std::shared_ptr<M>>>& items() const { return items_; }
  size_t size() const { return items_.size(); }

 private:
  M* find(const std::string& key) const {
    for (const auto& kv : items_)
      if (kv.first == key) return kv.second.get();
    return nullptr;
  }
  std::vector<std::pair<std::string, std::shared_ptr<M>>> items_;
};

// ---- state ------------------------------------------------------------------
// copy_state_dict (io/state_dict.h) into module.state_dict(), then
// on_state_loaded on every module.
LoadReport load_state_dict(Module& module, const NamedTensors& tensors, const LoadOptions& options = {});
// state_dict() to a safetensors file (atomic write).
void save_safetensors(const Module& module, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {});
// read_safetensors + load_state_dict (options.source defaults to the path).
LoadReport load_safetensors(Module& module, const std::string& path, LoadOptions options = {});

}  // namespace sono::nn
