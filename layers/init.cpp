#include "layers/init.h"

#include <cmath>
#include <vector>

#include "core/autograd.h"

namespace sono::nn::init {

void uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  SONO_CHECK(t.defined() && is_floating(t.dtype()), "init::uniform_", "expected a floating tensor, got ", describe(t));
  const int64_t n = t.numel();
  const uint64_t base = gen.take(uint64_t(n));
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = lo + (hi - lo) * double(philox_uniform(gen.seed, base + uint64_t(i)));
  NoGradGuard ng;
  t.copy_(Tensor::from_vector(v, t.shape()));
}

int64_t fan_in(const Tensor& weight) {
  SONO_CHECK(weight.defined() && weight.dim() >= 2, "init::fan_in", "expected a weight with >= 2 dims, got ",
             describe(weight));
  return weight.numel() / weight.size(0);
}

void kaiming_uniform_(const Tensor& weight, double gain, Generator& gen) {
  const double bound = gain * std::sqrt(3.0 / double(fan_in(weight)));
  uniform_(weight, -bound, bound, gen);
}

void default_conv_linear_(const Tensor& weight, const Tensor& bias, Generator& gen) {
  // a = sqrt(5): gain = sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
  kaiming_uniform_(weight, std::sqrt(1.0 / 3.0), gen);
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(double(fan_in(weight)));
    uniform_(bias, -bound, bound, gen);
  }
}

}  // namespace sono::nn::init
