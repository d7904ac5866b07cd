#pragma once
// Sono's modules as ONNX opset-17 nodes, following the module tree (names of
// nodes and initializers are the modules' dotted state-dict names):
//   Conv2d (+ the eval-mode BatchNorm2d after it, folded: model/fold_batchnorm.h)
//       -> Conv; TF-"same" static padding is the Conv's (asymmetric) pads
//   SiLU -> Sigmoid, Mul (opset 17 has no SiLU)
//   squeeze-excitation -> GlobalAveragePool, Conv, SiLU, Conv, Sigmoid, Mul
//   GroupNorm -> Reshape [N, G, -1], InstanceNormalization, Reshape back, Mul, Add
//       (GroupNormalization is opset 18)
//   nearest x2 -> Resize(nearest, asymmetric, floor): src = floor(dst / 2)
//   bilinear, align_corners=True -> Resize(linear, align_corners):
//       src = dst * (in - 1) / (out - 1), as ops/upsample.h computes it
//   Dropout, Dropout2d, drop-connect: eval mode, the identity (not emitted)
#include <string>
#include <vector>

#include "export/onnx_graph.h"
#include "model/multitask_model.h"

namespace sono::onnx_export {

class ModelGraph {
 public:
  explicit ModelGraph(GraphBuilder& g) : g_(g) {}

  // The encoder's six features (feature 0 is `image` itself).
  std::vector<std::string> encoder(model::EfficientNetEncoder& enc, const std::string& image);
  std::string decoder(model::FpnDecoder& dec, const std::vector<std::string>& features);
  // The head's output, named `output_name`: what TaskHead::forward returns.
  void head(model::TaskHead& head, const std::string& input, const std::string& output_name);

 private:
  std::string conv(const nn::Conv2d& conv, const std::string& x, const Tensor& weight, const Tensor& bias);
  std::string conv(const nn::Conv2d& conv, const std::string& x) {
    return this->conv(conv, x, conv.weight(), conv.bias());
  }
  std::string conv_bn(const nn::Conv2d& conv, const nn::BatchNorm2d& bn, const std::string& x);
  std::string silu(const std::string& x, const std::string& name);
  std::string mbconv(nn::MBConvBlock& block, const std::string& x);
  std::string group_norm(const nn::GroupNorm& gn, const std::string& x);
  onnx::NodeProto& resize(const std::string& x, int64_t scale, bool bilinear, const std::string& name);
  std::string linear(const nn::Linear& linear, const std::string& x, const std::string& output_name);
  std::string pooled(const std::string& x, const std::string& name);  // GlobalAveragePool + Flatten

  GraphBuilder& g_;
};

}  // namespace sono::onnx_export
