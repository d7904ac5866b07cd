#include "export/onnx_graph.h"

#include "core/error.h"

namespace sono::onnx_export {

std::string GraphBuilder::fresh(const std::string& hint) {
  std::string name = hint;
  for (int i = 1; names_.count(name); ++i) name = hint + "_" + std::to_string(i);
  names_.insert(name);
  return name;
}

std::string GraphBuilder::initializer(const std::string& name, const Tensor& t) {
  return initializer(name, t, std::vector<int64_t>(t.shape().begin(), t.shape().end()));
}

std::string GraphBuilder::initializer(const std::string& name, const Tensor& t, const std::vector<int64_t>& shape) {
  SONO_CHECK(t.defined(), "onnx export", "initializer '", name, "' has no tensor");
  return initializer_f32(name, t.detach().to(Device::cpu()).to(DType::F32).contiguous().to_vector<float>(), shape);
}

std::string GraphBuilder::initializer_f32(const std::string& name, const std::vector<float>& values,
                                          const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  SONO_CHECK(n == int64_t(values.size()), "onnx export", "initializer '", name, "': ", values.size(),
             " values for a shape of ", n, " elements");
  onnx::TensorProto* t = graph_.add_initializer();
  t->set_name(fresh(name));
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) t->add_dims(d);
  // raw_data: little-endian float32, the layout of the host vector on x86-64.
  t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t->name();
}

std::string GraphBuilder::initializer_i64(const std::string& name, const std::vector<int64_t>& values,
                                          const std::vector<int64_t>& shape) {
  onnx::TensorProto* t = graph_.add_initializer();
  t->set_name(fresh(name));
  t->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : shape) t->add_dims(d);
  for (int64_t v : values) t->add_int64_data(v);
  return t->name();
}

onnx::NodeProto& GraphBuilder::node(const std::string& op_type, const std::vector<std::string>& inputs,
                                    const std::string& name, int n_outputs) {
  onnx::NodeProto* n = graph_.add_node();
  std::string node_name = name;
  for (int i = 1; node_names_.count(node_name); ++i) node_name = name + "_" + std::to_string(i);
  node_names_.insert(node_name);
  n->set_name(node_name);
  n->set_op_type(op_type);
  for (const auto& in : inputs) n->add_input(in);
  for (int i = 0; i < n_outputs; ++i)
    n->add_output(fresh(n_outputs == 1 ? node_name : node_name + ":" + std::to_string(i)));
  return *n;
}

namespace {
onnx::AttributeProto& new_attr(onnx::NodeProto& node, const std::string& name, onnx::AttributeProto::AttributeType t) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(t);
  return *a;
}
}  // namespace

void set_attr(onnx::NodeProto& node, const std::string& name, int64_t value) {
  new_attr(node, name, onnx::AttributeProto::INT).set_i(value);
}
void set_attr(onnx::NodeProto& node, const std::string& name, float value) {
  new_attr(node, name, onnx::AttributeProto::FLOAT).set_f(value);
}
void set_attr(onnx::NodeProto& node, const std::string& name, const std::string& value) {
  new_attr(node, name, onnx::AttributeProto::STRING).set_s(value);
}
void set_attr(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values) {
  auto& a = new_attr(node, name, onnx::AttributeProto::INTS);
  for (int64_t v : values) a.add_ints(v);
}

void add_value_info(onnx::ValueInfoProto& info, const std::string& name, const std::vector<int64_t>& dims,
                    const std::string& batch_param) {
  info.set_name(name);
  auto* tensor = info.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) {
    auto* dim = tensor->mutable_shape()->add_dim();
    if (d < 0) dim->set_dim_param(batch_param);
    else dim->set_dim_value(d);
  }
}

}  // namespace sono::onnx_export
