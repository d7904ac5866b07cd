#pragma once
// A thin builder over the ONNX project's own protobuf classes (onnx/onnx_pb.h,
// libonnx_proto): unique value names, float32 / int64 initializers, nodes with
// attributes. It knows nothing about Sono's modules (export/model_graph.h does).
#include <onnx/onnx_pb.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sono::onnx_export {

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto& graph) : graph_(graph) {}

  // `hint`, or `hint` with a numeric suffix when a value of that name exists.
  std::string fresh(const std::string& hint);

  // Float32 initializers (the tensor is copied, converted from any float dtype
  // and device); `shape` overrides the tensor's shape (same element count).
  std::string initializer(const std::string& name, const Tensor& t);
  std::string initializer(const std::string& name, const Tensor& t, const std::vector<int64_t>& shape);
  std::string initializer_f32(const std::string& name, const std::vector<float>& values,
                              const std::vector<int64_t>& shape);
  std::string initializer_i64(const std::string& name, const std::vector<int64_t>& values,
                              const std::vector<int64_t>& shape);

  // A node named `name` (made unique) with `n_outputs` fresh outputs named
  // after it; an empty input name is an omitted optional input.
  onnx::NodeProto& node(const std::string& op_type, const std::vector<std::string>& inputs, const std::string& name,
                        int n_outputs = 1);
  // The same, returning its only output.
  std::string op(const std::string& op_type, const std::vector<std::string>& inputs, const std::string& name) {
    return node(op_type, inputs, name).output(0);
  }

  onnx::GraphProto& graph() { return graph_; }

 private:
  onnx::GraphProto& graph_;
  std::set<std::string> names_;
  std::set<std::string> node_names_;
};

// Attributes of a node.
void set_attr(onnx::NodeProto& node, const std::string& name, int64_t value);
void set_attr(onnx::NodeProto& node, const std::string& name, float value);
void set_attr(onnx::NodeProto& node, const std::string& name, const std::string& value);
void set_attr(onnx::NodeProto& node, const std::string& name, const std::vector<int64_t>& values);

// A graph input or output of element type float with these dimensions; a
// negative dimension becomes the symbolic batch dimension `batch_param`.
void add_value_info(onnx::ValueInfoProto& info, const std::string& name, const std::vector<int64_t>& dims,
                    const std::string& batch_param);

}  // namespace sono::onnx_export
