// model/fold_batchnorm.h: a folded convolution computes bn(conv(x)) with the
// BatchNorm in eval mode, for the conv shapes of the model (dense with TF-same
// asymmetric padding and stride 2, depthwise, 1x1, with and without bias).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "core/autograd.h"
#include "layers/conv.h"
#include "layers/norm.h"
#include "model/fold_batchnorm.h"
#include "ops/conv2d.h"
#include "tasks/dataset.h"
#include "tests/support/check.h"
#include "tests/support/random_batchnorm.h"
#include "tests/support/tolerances.h"

using namespace sono;
using namespace sono::test;

namespace {

// max|a - b| / max|b|; NaN in either gives NaN (never passes a <= check).
double relative_max_error(const Tensor& a, const Tensor& b) {
  const auto va = values(a), vb = values(b);
  REQUIRE(va.size() == vb.size());
  double err = 0, scale = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (!std::isfinite(va[i]) || !std::isfinite(vb[i])) return NAN;
    err = std::max(err, std::abs(va[i] - vb[i]));
    scale = std::max(scale, std::abs(vb[i]));
  }
  return err / scale;
}

struct Case {
  const char* what;
  int64_t in, out, k;
  Conv2dOptions options;
  bool bias;
};

}  // namespace

TEST_CASE("fold_batchnorm: the folded convolution equals conv then eval-mode BatchNorm") {
  nn::Padding2d tf_same{0, 1, 0, 1};  // stride-2 3x3 on an even size: right/bottom get the extra pixel
  const Case cases[] = {
      {"dense 3x3 stride 2, TF-same padding, no bias", 3, 16, 3, nn::conv_options(2, tf_same), false},
      {"depthwise 5x5, padding 2", 24, 24, 5, Conv2dOptions::symmetric(2, 1, 24), false},
      {"1x1 projection", 24, 8, 1, Conv2dOptions{}, false},
      {"3x3 with bias", 8, 12, 3, Conv2dOptions::symmetric(1), true},
  };
  uint64_t seed = 10;
  for (const Case& c : cases) {
    CAPTURE(c.what);
    nn::Conv2d conv(c.in, c.out, c.k, c.options, c.bias);
    Generator gen(seed);
    conv.reset_parameters(gen);
    nn::BatchNorm2d bn(c.out, 1e-3);
    randomize_batchnorm(bn, seed);
    bn.eval();
    NoGradGuard ng;
    const Tensor x = randn({2, c.in, 10, 10}, seed + 7, DType::F32);
    const Tensor expected = bn.forward(conv.forward(x));
    const model::FoldedConv f = model::fold_batchnorm(conv, bn);
    CHECK(f.weight.shape() == conv.weight().shape());
    CHECK(f.bias.shape() == Shape{c.out});
    CHECK(f.weight.dtype() == DType::F32);
    const Tensor folded = conv2d(x, f.weight, f.bias, c.options);
    REQUIRE(folded.shape() == expected.shape());
    CHECK(relative_max_error(folded, expected) <= tol::kFoldedBatchNormF32.rtol);
    // The statistics matter: the unfolded conv alone is far from the result.
    CHECK(relative_max_error(conv.forward(x), expected) > 0.1);
    seed += 100;
  }
}

TEST_CASE("fold_batchnorm: f64 modules fold to f64 weights that agree to rounding") {
  nn::Conv2d conv(4, 6, 3, Conv2dOptions::symmetric(1), false);
  Generator gen(3);
  conv.reset_parameters(gen);
  nn::BatchNorm2d bn(6, 1e-5);
  randomize_batchnorm(bn, 5);
  conv.to(DType::F64);
  bn.to(DType::F64);
  bn.eval();
  NoGradGuard ng;
  const Tensor x = randn({1, 4, 7, 7}, 9, DType::F64);
  const model::FoldedConv f = model::fold_batchnorm(conv, bn);
  CHECK(f.weight.dtype() == DType::F64);
  CHECK(relative_max_error(conv2d(x, f.weight, f.bias, conv.options()), bn.forward(conv.forward(x))) <= 1e-12);
}

TEST_CASE("fold_batchnorm: a BatchNorm of another width is an error naming both modules") {
  nn::Conv2d conv(4, 6, 1);
  nn::BatchNorm2d bn(5);
  CHECK_THROWS_WITH_AS(model::fold_batchnorm(conv, bn), doctest::Contains("normalises 5 channels"), Error);
}

namespace {

// A B0 model whose every BatchNorm has statistics and affine parameters far
// from the identity (so a pair left unfolded, or folded wrong, shows).
model::MultiTaskModel& randomized_b0() {
  static model::MultiTaskModel* m = [] {
    model::MultiTaskModelConfig c = tasks::model_config();
    c.encoder = "efficientnet-b0";
    c.init_seed = 3;
    auto* model = new model::MultiTaskModel(c);
    randomize_batchnorms(*model, 1000);
    model->eval();
    return model;
  }();
  return *m;
}

// The first task of each kind in the official registry.
std::vector<model::TaskSpec> one_task_per_kind(const model::MultiTaskModel& m) {
  std::vector<model::TaskSpec> out;
  for (const auto& t : m.tasks().tasks()) {
    bool seen = false;
    for (const auto& o : out) seen = seen || o.type == t.type;
    if (!seen) out.push_back(t);
  }
  return out;
}

}  // namespace

TEST_CASE("folded_inference_copy: every task kind's output equals the eval-mode model, the model untouched") {
  model::MultiTaskModel& m = randomized_b0();
  const nn::NamedTensors before = m.state_dict();
  std::vector<std::vector<double>> before_values;
  for (const auto& kv : before) before_values.push_back(values(kv.second));

  const std::shared_ptr<model::MultiTaskModel> folded = model::folded_inference_copy(m);
  int64_t folded_bns = 0, bns = 0;
  for (auto& [name, mod] : folded->named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(mod)) {
      ++bns;
      folded_bns += bn->folded() ? 1 : 0;
    }
  CHECK(bns > 49);  // B0's encoder alone has 49 (stem, head, 16 blocks, the first without expansion)
  CHECK(folded_bns == bns);
  CHECK_FALSE(folded->is_training());

  const Tensor x = randn({2, 3, 64, 64}, 77, DType::F32);
  const std::vector<model::TaskSpec> kinds = one_task_per_kind(m);
  REQUIRE(kinds.size() == 4);
  for (const model::TaskSpec& t : kinds) {
    CAPTURE(t.id);
    NoGradGuard ng;
    const uint64_t nodes = Node::created();
    const Tensor expected = m.forward(x, t.id);
    CHECK(Node::created() == nodes);  // the unfolded model under NoGradGuard records nothing either
    const Tensor got = folded->forward(x, t.id);
    REQUIRE(got.shape() == expected.shape());
    const double err = relative_max_error(got, expected);
    MESSAGE(t.id, ": folded vs unfolded max-abs error / max-abs ", err);
    CHECK(err <= tol::kFoldedModelF32.rtol);
  }
  // The source model's values are exactly what they were (folding wrote into the copy only).
  const nn::NamedTensors after = m.state_dict();
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    CAPTURE(after[i].first);
    CHECK(values(after[i].second) == before_values[i]);
  }
  // The copy refuses training, which its folded statistics cannot do.
  folded->train();
  CHECK_THROWS_WITH_AS(folded->forward(x, kinds[0].id), doctest::Contains("cannot run in training mode"), Error);
}

TEST_CASE("folded_inference_copy: its forward records no autograd node, even without NoGradGuard") {
  model::MultiTaskModel& m = randomized_b0();
  const std::shared_ptr<model::MultiTaskModel> folded = model::folded_inference_copy(m);
  for (const Tensor& p : folded->parameters()) CHECK_FALSE(p.requires_grad());
  const Tensor x = randn({1, 3, 64, 64}, 78, DType::F32);
  for (const model::TaskSpec& t : one_task_per_kind(m)) {
    CAPTURE(t.id);
    const uint64_t nodes = Node::created();
    const Tensor y = folded->forward(x, t.id);
    CHECK(Node::created() == nodes);
    CHECK(y.grad_fn() == nullptr);
    CHECK_FALSE(y.requires_grad());
  }
  // The counter does move when a graph is recorded (the check above can fail).
  const uint64_t nodes = Node::created();
  const Tensor y = m.forward(x, one_task_per_kind(m)[0].id);
  CHECK(Node::created() > nodes);
  CHECK(y.grad_fn() != nullptr);
}
