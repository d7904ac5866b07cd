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
#include "tests/support/check.h"
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

// BN statistics and affine parameters far from the identity (a fold that
// ignored any of them would be off by O(1)).
void randomize(nn::BatchNorm2d& bn, uint64_t seed) {
  NoGradGuard ng;
  const int64_t c = bn.num_features();
  bn.weight().copy_(rand_uniform({c}, 0.5, 2.0, seed, DType::F32));
  bn.bias().copy_(randn({c}, seed + 1, DType::F32));
  bn.running_mean().copy_(randn({c}, seed + 2, DType::F32));
  bn.running_var().copy_(rand_uniform({c}, 0.1, 3.0, seed + 3, DType::F32));
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
    randomize(bn, seed);
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
  randomize(bn, 5);
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
