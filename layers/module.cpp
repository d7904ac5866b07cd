#include "layers/module.h"

#include "core/autograd.h"
#include "io/safetensors.h"

namespace sono::nn {

std::string Module::name() const { return prefix_.empty() ? "" : prefix_.substr(0, prefix_.size() - 1); }

void Module::check_new_name(const std::string& name) const {
  const std::string where = type_name_ + (prefix_.empty() ? "" : " '" + this->name() + "'");
  SONO_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module::register", "invalid name '", name, "' in ",
             where, " (must be non-empty without '.')");
  auto used = [&](const auto& list) {
    for (const auto& kv : list)
      if (kv.first == name) return true;
    return false;
  };
  SONO_CHECK(!used(params_) && !used(buffers_) && !used(children_), "Module::register", "name '", name,
             "' is already used in ", where);
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  SONO_CHECK(value.defined() && value.is_leaf() && is_floating(value.dtype()), "Module::register_parameter",
             "parameter '", name, "' must be a defined floating-point leaf tensor, got ", describe(value));
  value.set_requires_grad(true);
  value.set_name(prefix_ + name);
  params_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  SONO_CHECK(value.defined(), "Module::register_buffer", "buffer '", name, "' is undefined");
  value.set_name(prefix_ + name);
  buffers_.emplace_back(name, value);
  return value;
}

void Module::attach_child(const std::string& name, const std::shared_ptr<Module>& child) {
  check_new_name(name);
  SONO_CHECK(child != nullptr, "Module::register_module", "child '", name, "' is null");
  SONO_CHECK(!child->has_parent_, "Module::register_module", "module '", child->name(), "' (", child->type_name_,
             ") already has a parent; a module can be registered once");
  SONO_CHECK(child.get() != this, "Module::register_module", "a module cannot be its own child");
  child->has_parent_ = true;
  child->set_prefix(prefix_ + name + ".");
  children_.emplace_back(name, child);
}

void Module::set_prefix(const std::string& prefix) {
  prefix_ = prefix;
  for (auto& kv : params_) kv.second.set_name(prefix_ + kv.first);
  for (auto& kv : buffers_) kv.second.set_name(prefix_ + kv.first);
  for (auto& kv : children_) kv.second->set_prefix(prefix_ + kv.first + ".");
}

void Module::collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const {
  if (params)
    for (const auto& kv : params_) out.emplace_back(prefix + kv.first, kv.second);
  if (buffers)
    for (const auto& kv : buffers_) out.emplace_back(prefix + kv.first, kv.second);
  for (const auto& kv : children_) kv.second->collect(prefix + kv.first + ".", params, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& kv : named_parameters()) out.push_back(kv.second);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& kv : named_parameters()) n += kv.second.numel();
  return n;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& kv : children_)
    for (auto& sub : kv.second->named_modules())
      out.emplace_back(sub.first.empty() ? kv.first : kv.first + "." + sub.first, sub.second);
  return out;
}

Tensor Module::tensor(const std::string& dotted_name) const {
  for (const auto& kv : state_dict())
    if (kv.first == dotted_name) return kv.second;
  throw Error(str_cat("Module::tensor: no parameter or buffer '", dotted_name, "' in ", type_name_,
                      prefix_.empty() ? "" : " '" + name() + "'"));
}

Module& Module::module(const std::string& dotted_name) {
  if (dotted_name.empty()) return *this;
  size_t dot = dotted_name.find('.');
  std::string head = dotted_name.substr(0, dot);
  for (auto& kv : children_)
    if (kv.first == head) return dot == std::string::npos ? *kv.second : kv.second->module(dotted_name.substr(dot + 1));
  throw Error(str_cat("Module::module: no submodule '", dotted_name, "' in ", type_name_,
                      prefix_.empty() ? "" : " '" + name() + "'"));
}

void Module::train(bool on) {
  training_ = on;
  for (auto& kv : children_) kv.second->train(on);
}

template <class F>
void Module::for_each_tensor(F&& f) {
  for (auto& kv : params_) f(kv.second, true);
  for (auto& kv : buffers_) f(kv.second, false);
  for (auto& kv : children_) kv.second->for_each_tensor(f);
}

void Module::zero_grad() {
  for_each_tensor([](Tensor& t, bool is_param) {
    if (is_param) t.reset_grad();
  });
}

namespace {
// Makes `t`'s impl hold `src`'s data (contiguous), keeping the impl identity
// so every handle sharing it sees the change.
void replace_data(const Tensor& t, const Tensor& src) {
  TensorImpl& impl = t.impl();
  Tensor c = src.contiguous();
  impl.storage = c.storage();
  impl.shape = c.shape();
  impl.strides = c.strides();
  impl.offset = c.offset();
  impl.dtype = c.dtype();
  impl.grad.reset();
}
}  // namespace

void Module::to(Device device) {
  NoGradGuard ng;
  for_each_tensor([&](Tensor& t, bool) {
    if (t.device() != device) replace_data(t, t.detach().to(device));
  });
}

void Module::to(DType float_dtype) {
  SONO_CHECK(is_floating(float_dtype), "Module::to", "expected a floating dtype, got ", dtype_name(float_dtype));
  NoGradGuard ng;
  for_each_tensor([&](Tensor& t, bool) {
    if (is_floating(t.dtype()) && t.dtype() != float_dtype) replace_data(t, t.detach().to(float_dtype));
  });
}

void Module::set_random_context(const std::shared_ptr<RandomContext>& ctx) {
  random_ = ctx;
  for (auto& kv : children_) kv.second->set_random_context(ctx);
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& m : items()) y = m->forward(y);
  return y;
}

LoadReport load_state_dict(Module& module, const NamedTensors& tensors, const LoadOptions& options) {
  LoadReport report = copy_state_dict(module.state_dict(), tensors, options, module.type_name());
  for (auto& m : module.named_modules()) m.second->on_state_loaded();
  return report;
}

void save_safetensors(const Module& module, const std::string& path,
                      const std::map<std::string, std::string>& metadata) {
  write_safetensors(path, module.state_dict(), metadata);
}

LoadReport load_safetensors(Module& module, const std::string& path, LoadOptions options) {
  if (options.source == LoadOptions{}.source) options.source = path;
  return load_state_dict(module, read_safetensors(path).tensors, options);
}

}  // namespace sono::nn
