#include "model/fold_batchnorm.h"

#include <cmath>
#include <vector>

#include "core/autograd.h"
#include "layers/mbconv.h"
#include "model/efficientnet.h"
#include "model/heads.h"

namespace sono::model {

namespace {

std::vector<double> host_f64(const Tensor& t) {
  return t.detach().to(Device::cpu()).to(DType::F64).to_vector<double>();
}

template <class M>
M& child(nn::Module& m, const std::string& path) {
  M* c = dynamic_cast<M*>(&m.module(path));
  SONO_CHECK(c != nullptr, "fold_batchnorm", "'", m.name(), ".", path, "' is a ", m.module(path).type_name(),
             ", not the module BatchNorm folding expects");
  return *c;
}

bool has_child(const nn::Module& m, const std::string& name) {
  for (const auto& kv : m.named_children())
    if (kv.first == name) return true;
  return false;
}

// The Conv2d + BatchNorm2d pairs of module m (child names as in the official model).
void fold_pairs_of(nn::Module& m) {
  auto fold = [&](const char* conv, const char* bn) {
    fold_batchnorm_into(child<nn::Conv2d>(m, conv), child<nn::BatchNorm2d>(m, bn));
  };
  if (dynamic_cast<nn::MBConvBlock*>(&m)) {
    if (has_child(m, "_expand_conv")) fold("_expand_conv", "_bn0");
    fold("_depthwise_conv", "_bn1");
    fold("_project_conv", "_bn2");
  } else if (dynamic_cast<EfficientNetEncoder*>(&m)) {
    fold("_conv_stem", "_bn0");
    fold("_conv_head", "_bn1");
  } else if (dynamic_cast<DetectionHead*>(&m)) {
    fold("conv_block.0", "conv_block.1");
    fold("conv_block.3", "conv_block.4");
  }
}

}  // namespace

FoldedConv fold_batchnorm(const nn::Conv2d& conv, const nn::BatchNorm2d& bn) {
  const int64_t out = conv.out_channels();
  SONO_CHECK(bn.num_features() == out, "fold_batchnorm", "'", bn.name(), "' normalises ", bn.num_features(),
             " channels but '", conv.name(), "' has ", out, " output channels");
  const std::vector<double> w = host_f64(conv.weight()), gamma = host_f64(bn.weight()), beta = host_f64(bn.bias()),
                            mean = host_f64(bn.running_mean()), var = host_f64(bn.running_var());
  const std::vector<double> b = conv.bias().defined() ? host_f64(conv.bias()) : std::vector<double>(size_t(out), 0.0);
  const size_t per_channel = w.size() / size_t(out);
  std::vector<double> fw(w.size()), fb(static_cast<size_t>(out));
  for (size_t o = 0; o < size_t(out); ++o) {
    const double s = gamma[o] / std::sqrt(var[o] + bn.eps());
    for (size_t k = 0; k < per_channel; ++k) fw[o * per_channel + k] = w[o * per_channel + k] * s;
    fb[o] = (b[o] - mean[o]) * s + beta[o];
  }
  const DType dtype = conv.weight().dtype();
  return {Tensor::from_vector(fw, conv.weight().shape()).to(dtype), Tensor::from_vector(fb, {out}).to(dtype)};
}

void fold_batchnorm_into(nn::Conv2d& conv, nn::BatchNorm2d& bn) {
  SONO_CHECK(!bn.folded(), "fold_batchnorm", "'", bn.name(), "' is already folded");
  const FoldedConv f = fold_batchnorm(conv, bn);
  conv.load_folded(f.weight, f.bias);
  bn.mark_folded();
}

std::shared_ptr<MultiTaskModel> folded_inference_copy(const MultiTaskModel& model) {
  auto copy = std::make_shared<MultiTaskModel>(model.config());
  const Tensor& w = model.encoder().conv_stem().weight();
  copy->to(w.device());
  if (w.dtype() != DType::F32) copy->to(w.dtype());
  // Copied tensor by tensor, not through load_state_dict: that refuses
  // non-finite values, and a broken weight must reach predict's own check,
  // which names the CSV row whose output it spoils.
  const nn::NamedTensors from = model.state_dict(), to = copy->state_dict();
  SONO_CHECK(from.size() == to.size(), "fold_batchnorm", "the copy has ", to.size(), " tensors, the model ",
             from.size());
  for (size_t i = 0; i < to.size(); ++i) {
    SONO_CHECK(from[i].first == to[i].first, "fold_batchnorm", "the copy's '", to[i].first, "' is the model's '",
               from[i].first, "'");
    to[i].second.detach().copy_(from[i].second);
  }
  for (auto& [name, m] : copy->named_modules()) m->on_state_loaded();
  for (auto& [name, m] : copy->named_modules()) fold_pairs_of(*m);
  for (auto& [name, m] : copy->named_modules()) {
    const auto* bn = dynamic_cast<const nn::BatchNorm2d*>(m);
    SONO_CHECK(bn == nullptr || bn->folded(), "fold_batchnorm", "'", name,
               "' follows no convolution that folding knows of (model/fold_batchnorm.cpp)");
  }
  for (Tensor& p : copy->parameters()) p.set_requires_grad(false);
  copy->eval();
  return copy;
}

}  // namespace sono::model
