// The model with fused ops (batch_norm_silu, se_gate, drop_connect_add; the
// default) against the same model with the unfused chains (layers/fusion.h):
// a training step of B0 in float64 with drop-connect on gives the same
// output, gradients and running statistics.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "core/autograd.h"
#include "layers/fusion.h"
#include "model/multitask_model.h"
#include "ops/ops.h"
#include "tasks/dataset.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

struct Step {
  Tensor output;
  nn::NamedTensors grads, buffers;
};

// One training-mode forward + backward of a fresh B0 (same init and
// drop-connect seeds every time) with fusion on or off.
Step train_step(bool fused) {
  nn::FusedOpsScope scope(fused);
  model::MultiTaskModelConfig c = tasks::model_config();
  c.encoder = "efficientnet-b0";
  c.init_seed = 3;
  c.random_seed = 4;
  model::MultiTaskModel m(c);
  m.to(DType::F64);
  m.train();
  Tensor x = randn({2, 3, 64, 64}, 5);
  Step s;
  s.output = m.forward(x, "cardiac_multi");
  sum(mul(s.output, randn(s.output.shape(), 6))).backward();
  CHECK(m.random().generator.offset > 0);  // drop-connect drew its masks
  for (const auto& [name, p] : m.named_parameters())
    if (p.grad().defined()) s.grads.emplace_back(name, p.grad());
  s.buffers = m.named_buffers();
  return s;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : values(t)) m = std::max(m, std::abs(v));
  return m;
}

// max |a - b| relative to `scale` (NaN: infinite).
double relative_error(const Tensor& a, const Tensor& b, double scale) {
  auto av = values(a), bv = values(b);
  double err = 0;
  for (size_t i = 0; i < av.size(); ++i) {
    if (std::isnan(av[i]) || std::isnan(bv[i])) return INFINITY;
    err = std::max(err, std::abs(av[i] - bv[i]));
  }
  return scale > 0 ? err / scale : err;
}
double relative_error(const Tensor& a, const Tensor& b) { return relative_error(a, b, max_abs(b)); }

std::string part_of(const std::string& name) { return name.substr(0, name.find('.')); }

}  // namespace

TEST_CASE("fusion: a float64 B0 training step with fused ops equals the unfused one") {
  CHECK(nn::fused_ops_enabled());  // the default
  const Step fused = train_step(true), unfused = train_step(false);
  CHECK(nn::fused_ops_enabled());  // the scope restored it
  // Only summation order and the recomputed normalization differ: float64
  // rounding, far below the parity tests' kParityF64.
  constexpr double kTol = 1e-9;
  CHECK(relative_error(fused.output, unfused.output) <= kTol);
  REQUIRE(fused.grads.size() == unfused.grads.size());
  REQUIRE(fused.grads.size() > 100);
  // Gradients relative to their part's (encoder, decoder, heads) largest, as
  // the parity tests: some are 0 up to rounding (a bias whose output feeds
  // only training-mode batch norms), and their rounding noise differs.
  std::map<std::string, double> part_scale;
  for (const auto& [name, g] : unfused.grads)
    part_scale[part_of(name)] = std::max(part_scale[part_of(name)], max_abs(g));
  for (size_t i = 0; i < fused.grads.size(); ++i) {
    const std::string& name = fused.grads[i].first;
    CAPTURE(name);
    REQUIRE(name == unfused.grads[i].first);
    CHECK(relative_error(fused.grads[i].second, unfused.grads[i].second, part_scale[part_of(name)]) <= kTol);
  }
  REQUIRE(fused.buffers.size() == unfused.buffers.size());
  std::map<std::string, Tensor> buffers(unfused.buffers.begin(), unfused.buffers.end());
  for (size_t i = 0; i < fused.buffers.size(); ++i) {
    const std::string& name = fused.buffers[i].first;
    CAPTURE(name);
    REQUIRE(name == unfused.buffers[i].first);
    // A running mean relative to its layer's running std (as the parity
    // tests): batch means that are 0 up to rounding (a conv of zero-mean
    // input) differ only in their noise.
    const std::string suffix = "running_mean";
    double scale = max_abs(unfused.buffers[i].second);
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      scale = std::sqrt(max_abs(buffers.at(name.substr(0, name.size() - suffix.size()) + "running_var")));
    CHECK(relative_error(fused.buffers[i].second, unfused.buffers[i].second, scale) <= kTol);
  }
}
