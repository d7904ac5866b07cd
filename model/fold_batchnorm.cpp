#include "model/fold_batchnorm.h"

#include <cmath>
#include <vector>

namespace sono::model {

namespace {

std::vector<double> host_f64(const Tensor& t) {
  return t.detach().to(Device::cpu()).to(DType::F64).to_vector<double>();
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

}  // namespace sono::model
