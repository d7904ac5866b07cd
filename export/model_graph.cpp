#include "export/model_graph.h"

#include "model/fold_batchnorm.h"

namespace sono::onnx_export {

namespace {

// The child at `path` of `m` as module type M; throws naming both when absent or of another type.
template <class M>
M& child(nn::Module& m, const std::string& path) {
  M* c = dynamic_cast<M*>(&m.module(path));
  SONO_CHECK(c != nullptr, "onnx export", "'", m.name(), ".", path, "' is a ", m.module(path).type_name(),
             ", not the module the export expects");
  return *c;
}

template <class M>
M* optional_child(nn::Module& m, const std::string& name) {
  for (const auto& kv : m.named_children())
    if (kv.first == name) return dynamic_cast<M*>(kv.second.get());
  return nullptr;
}

}  // namespace

std::string ModelGraph::conv(const nn::Conv2d& conv, const std::string& x, const Tensor& weight, const Tensor& bias) {
  const Conv2dOptions& o = conv.options();
  std::vector<std::string> inputs{x, g_.initializer(conv.name() + ".weight", weight)};
  if (bias.defined()) inputs.push_back(g_.initializer(conv.name() + ".bias", bias));
  onnx::NodeProto& n = g_.node("Conv", inputs, conv.name());
  const int64_t k = conv.kernel_size();
  set_attr(n, "kernel_shape", std::vector<int64_t>{k, k});
  set_attr(n, "strides", std::vector<int64_t>{o.stride_h, o.stride_w});
  // ONNX order: begin of each spatial axis, then end of each.
  set_attr(n, "pads", std::vector<int64_t>{o.pad_top, o.pad_left, o.pad_bottom, o.pad_right});
  set_attr(n, "dilations", std::vector<int64_t>{o.dilation_h, o.dilation_w});
  set_attr(n, "group", o.groups);
  return n.output(0);
}

std::string ModelGraph::conv_bn(const nn::Conv2d& c, const nn::BatchNorm2d& bn, const std::string& x) {
  model::FoldedConv f = model::fold_batchnorm(c, bn);
  return conv(c, x, f.weight, f.bias);
}

std::string ModelGraph::silu(const std::string& x, const std::string& name) {
  return g_.op("Mul", {x, g_.op("Sigmoid", {x}, name + ".sigmoid")}, name);
}

std::string ModelGraph::mbconv(nn::MBConvBlock& b, const std::string& input) {
  const std::string n = b.name();
  std::string x = input;
  if (auto* expand = optional_child<nn::Conv2d>(b, "_expand_conv"))
    x = silu(conv_bn(*expand, child<nn::BatchNorm2d>(b, "_bn0"), x), n + ".silu0");
  x = silu(conv_bn(b.depthwise_conv(), child<nn::BatchNorm2d>(b, "_bn1"), x), n + ".silu1");
  if (auto* reduce = optional_child<nn::Conv2d>(b, "_se_reduce")) {
    std::string s = g_.op("GlobalAveragePool", {x}, n + ".se_pool");
    s = silu(conv(*reduce, s), n + ".se_silu");
    s = g_.op("Sigmoid", {conv(child<nn::Conv2d>(b, "_se_expand"), s)}, n + ".se_gate");
    x = g_.op("Mul", {s, x}, n + ".se");
  }
  x = conv_bn(child<nn::Conv2d>(b, "_project_conv"), child<nn::BatchNorm2d>(b, "_bn2"), x);
  return b.has_residual() ? g_.op("Add", {x, input}, n + ".residual") : x;
}

std::vector<std::string> ModelGraph::encoder(model::EfficientNetEncoder& enc, const std::string& image) {
  std::vector<std::string> features{image};
  std::string y = silu(conv_bn(enc.conv_stem(), enc.bn_stem(), image), enc.name() + ".stem_silu");
  features.push_back(y);
  const auto& taps = enc.plan().feature_blocks;
  size_t tap = 0;
  for (size_t i = 0; i < enc.blocks().size() && tap < taps.size(); ++i) {
    y = mbconv(enc.blocks()[i], y);
    if (int64_t(i) == taps[tap]) {
      features.push_back(y);
      ++tap;
    }
  }
  return features;
}

std::string ModelGraph::group_norm(const nn::GroupNorm& gn, const std::string& x) {
  const std::string n = gn.name();
  const int64_t groups = gn.num_groups(), channels = gn.weight().numel();
  const std::string grouped =
      g_.op("Reshape", {x, g_.initializer_i64(n + ".group_shape", {0, groups, -1}, {3})}, n + ".group");
  onnx::NodeProto& in =
      g_.node("InstanceNormalization",
              {grouped, g_.initializer_f32(n + ".unit_scale", std::vector<float>(groups, 1.0f), {groups}),
               g_.initializer_f32(n + ".zero_bias", std::vector<float>(groups, 0.0f), {groups})},
              n + ".normalize");
  set_attr(in, "epsilon", float(gn.eps()));
  const std::string back = g_.op("Reshape", {in.output(0), g_.op("Shape", {x}, n + ".shape")}, n + ".ungroup");
  const std::string scaled =
      g_.op("Mul", {back, g_.initializer(n + ".weight", gn.weight(), {channels, 1, 1})}, n + ".scale");
  return g_.op("Add", {scaled, g_.initializer(n + ".bias", gn.bias(), {channels, 1, 1})}, n);
}

onnx::NodeProto& ModelGraph::resize(const std::string& x, int64_t scale, bool bilinear, const std::string& name) {
  const float s = float(scale);
  onnx::NodeProto& r = g_.node("Resize", {x, "", g_.initializer_f32(name + ".scales", {1.0f, 1.0f, s, s}, {4})}, name);
  if (bilinear) {
    set_attr(r, "mode", std::string("linear"));
    set_attr(r, "coordinate_transformation_mode", std::string("align_corners"));
  } else {
    set_attr(r, "mode", std::string("nearest"));
    set_attr(r, "coordinate_transformation_mode", std::string("asymmetric"));
    set_attr(r, "nearest_mode", std::string("floor"));
  }
  return r;
}

std::string ModelGraph::decoder(model::FpnDecoder& dec, const std::vector<std::string>& f) {
  SONO_CHECK(f.size() >= 4, "onnx export", "the decoder needs the encoder's features, got ", f.size());
  const size_t n = f.size();
  const std::string p5 = conv(dec.p5(), f[n - 1]);
  auto top_down = [&](nn::FPNBlock& block, const std::string& coarse, const std::string& skip) {
    const std::string up = resize(coarse, 2, false, block.name() + ".upsample").output(0);
    return g_.op("Add", {up, conv(block.skip_conv(), skip)}, block.name());
  };
  const std::string p4 = top_down(dec.p4(), p5, f[n - 2]);
  const std::string p3 = top_down(dec.p3(), p4, f[n - 3]);
  const std::string p2 = top_down(dec.p2(), p3, f[n - 4]);
  const std::string levels[4] = {p5, p4, p3, p2};
  std::string sum;
  for (size_t i = 0; i < 4; ++i) {
    nn::SegmentationBlock& sb = dec.seg_blocks()[i];
    auto& units = child<nn::Sequential>(sb, "block");
    std::string y = levels[i];
    for (size_t u = 0; u < units.size(); ++u) {
      auto& unit = dynamic_cast<nn::Conv3x3GNReLU&>(units[u]);
      y = conv(unit.conv(), y);
      y = group_norm(child<nn::GroupNorm>(unit, "block.1"), y);
      y = g_.op("Relu", {y}, unit.name() + ".relu");
      if (unit.upsample()) y = resize(y, 2, true, unit.name() + ".upsample").output(0);
    }
    sum = i == 0 ? y : g_.op("Add", {sum, y}, dec.name() + ".merge" + std::to_string(i));
  }
  return sum;  // the decoder's Dropout2d is the identity in eval mode
}

std::string ModelGraph::pooled(const std::string& x, const std::string& name) {
  onnx::NodeProto& f = g_.node("Flatten", {g_.op("GlobalAveragePool", {x}, name + ".pool")}, name + ".flatten");
  set_attr(f, "axis", int64_t(1));
  return f.output(0);
}

std::string ModelGraph::linear(const nn::Linear& l, const std::string& x, const std::string& output_name) {
  onnx::NodeProto& n = g_.node(
      "Gemm", {x, g_.initializer(l.name() + ".weight", l.weight()), g_.initializer(l.name() + ".bias", l.bias())},
      l.name());
  set_attr(n, "transB", int64_t(1));
  if (!output_name.empty()) n.set_output(0, output_name);
  return n.output(0);
}

void ModelGraph::head(model::TaskHead& h, const std::string& x, const std::string& out) {
  const std::string n = h.name();
  if (dynamic_cast<model::SegmentationHead*>(&h)) {
    auto& up = child<nn::UpsamplingBilinear2d>(h, "1");
    resize(conv(child<nn::Conv2d>(h, "0"), x), up.scale(), true, up.name()).set_output(0, out);
  } else if (dynamic_cast<model::ClassificationHead*>(&h)) {
    // head.2 is the Dropout (identity in eval mode), head.4 the Identity activation.
    linear(child<nn::Linear>(h, "head.3"), pooled(x, n + ".head"), out);
  } else if (dynamic_cast<model::RegressionHead*>(&h)) {
    linear(child<nn::Linear>(h, "linear"), pooled(x, n), out);
  } else if (dynamic_cast<model::DetectionHead*>(&h)) {
    std::string y = conv_bn(child<nn::Conv2d>(h, "conv_block.0"), child<nn::BatchNorm2d>(h, "conv_block.1"), x);
    y = g_.op("Relu", {y}, n + ".conv_block.2");
    y = conv_bn(child<nn::Conv2d>(h, "conv_block.3"), child<nn::BatchNorm2d>(h, "conv_block.4"), y);
    y = g_.op("Relu", {y}, n + ".conv_block.5");
    y = conv(child<nn::Conv2d>(h, "conv_block.6"), y);
    // Channels 0..3 (the box) through a sigmoid, channel 4 (the cell score) stays a logit.
    onnx::NodeProto& split = g_.node("Split", {y, g_.initializer_i64(n + ".split", {4, 1}, {2})}, n + ".split", 2);
    set_attr(split, "axis", int64_t(1));
    const std::string box = g_.op("Sigmoid", {split.output(0)}, n + ".box");
    onnx::NodeProto& cat = g_.node("Concat", {box, split.output(1)}, n + ".concat");
    set_attr(cat, "axis", int64_t(1));
    cat.set_output(0, out);
  } else {
    throw Error(str_cat("onnx export: head '", n, "' is a ", h.type_name(), ", which the export does not know"));
  }
}

}  // namespace sono::onnx_export
