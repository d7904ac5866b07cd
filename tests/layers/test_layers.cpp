#include <doctest/doctest.h>

#include <cmath>

#include "core/autograd.h"
#include "layers/basic.h"
#include "layers/conv.h"
#include "layers/dropout.h"
#include "layers/fpn_blocks.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/mbconv.h"
#include "layers/module.h"
#include "layers/norm.h"
#include "layers/squeeze_excite.h"
#include "ops/ops.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::nn;
using namespace sono::test;

namespace {
std::vector<std::string> keys(const Module& m) {
  std::vector<std::string> k;
  for (const auto& kv : m.state_dict()) k.push_back(kv.first);
  return k;
}

// Random parameters (and running stats) so forward comparisons are meaningful.
void randomize(Module& m, uint64_t seed) {
  NoGradGuard ng;
  for (const auto& kv : m.state_dict()) {
    if (!is_floating(kv.second.dtype())) continue;
    const bool var = kv.first.find("running_var") != std::string::npos;
    Tensor r = var ? test::rand_uniform(kv.second.shape(), 0.5, 1.5, seed++, kv.second.dtype())
                   : test::randn(kv.second.shape(), seed++, kv.second.dtype(), 0.3);
    kv.second.copy_(r);
  }
}
}  // namespace

TEST_CASE("layers: Conv2d names, explicit asymmetric padding, output size and MACs") {
  Conv2d conv(4, 6, 3, conv_options(2, Padding2d{0, 1, 0, 1}), true);
  CHECK(keys(conv) == std::vector<std::string>{"weight", "bias"});
  CHECK(conv.weight().shape() == Shape{6, 4, 3, 3});
  Generator gen(3);
  conv.reset_parameters(gen);
  Tensor x = test::randn({2, 4, 9, 10}, 1, DType::F32);
  Tensor y = conv.forward(x);
  CHECK(y.shape() == Shape{2, 6, 4, 5});  // H: (9 + 0 + 1 - 3) / 2 + 1
  CHECK(conv.output_size(9, 10) == std::pair<int64_t, int64_t>{4, 5});
  CHECK(conv.macs(9, 10) == 6 * 4 * 9 * 20);
  CHECK_CLOSE(y, conv2d(x, conv.weight(), conv.bias(), conv.options()), tol::kForwardF64);
  Conv2d dw(8, 8, 5, conv_options(1, Padding2d{2, 2, 2, 2}, 8), false);
  CHECK(keys(dw) == std::vector<std::string>{"weight"});
  CHECK(dw.weight().shape() == Shape{8, 1, 5, 5});
  CHECK(dw.macs(7, 7) == 8 * 1 * 25 * 49);
}

TEST_CASE("layers: default init is U(+-1/sqrt(fan_in)), seeded and reproducible") {
  Conv2d a(16, 8, 3), b(16, 8, 3), c(16, 8, 3);
  Generator g1(5), g2(5), g3(6);
  a.reset_parameters(g1);
  b.reset_parameters(g2);
  c.reset_parameters(g3);
  CHECK(g1.offset == uint64_t(8 * 16 * 9 + 8));
  CHECK(test::values(a.weight()) == test::values(b.weight()));
  CHECK(test::values(a.weight()) != test::values(c.weight()));
  const double bound = 1.0 / std::sqrt(16.0 * 9.0);
  double max_abs = 0;
  for (double v : test::values(a.weight())) max_abs = std::max(max_abs, std::fabs(v));
  for (double v : test::values(a.bias())) max_abs = std::max(max_abs, std::fabs(v));
  CHECK(max_abs <= bound);
  CHECK(max_abs > 0.8 * bound);  // really spread over the range
  Linear lin(10, 3);
  Generator g4(1);
  lin.reset_parameters(g4);
  for (double v : test::values(lin.weight())) CHECK(std::fabs(v) <= 1.0 / std::sqrt(10.0));
  // kaiming-uniform with ReLU gain: bound sqrt(6 / fan_in)
  Generator g5(2);
  init::kaiming_uniform_(a.weight(), init::kReluGain, g5);
  max_abs = 0;
  for (double v : test::values(a.weight())) max_abs = std::max(max_abs, std::fabs(v));
  CHECK(max_abs <= std::sqrt(6.0 / 144.0));
  CHECK(max_abs > 0.8 * std::sqrt(6.0 / 144.0));
}

TEST_CASE("layers: BatchNorm2d buffers, counter in training only, running stats, reload") {
  BatchNorm2d bn(3, 1e-3, 0.01);
  CHECK(keys(bn) == std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(bn.num_batches_tracked().dtype() == DType::I64);
  CHECK(bn.num_batches_tracked().dim() == 0);
  Tensor x = test::randn({4, 3, 5, 5}, 2, DType::F64);
  bn.to(DType::F64);
  bn.forward(x);
  bn.forward(x);
  CHECK(bn.num_batches_tracked().item() == 2);
  // running_mean after two identical batches: m = 1 - (1 - 0.01)^2 of the batch mean
  std::vector<double> mean(3, 0.0);
  auto xv = test::values(x);
  for (int n = 0; n < 4; ++n)
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 25; ++i) mean[size_t(c)] += xv[size_t((n * 3 + c) * 25 + i)] / 100.0;
  auto rm = test::values(bn.running_mean());
  for (int c = 0; c < 3; ++c) CHECK(rm[size_t(c)] == doctest::Approx(mean[size_t(c)] * (1 - 0.99 * 0.99)));
  bn.eval();
  bn.forward(x);
  CHECK(bn.num_batches_tracked().item() == 2);
  // the counter continues from a loaded value
  NamedTensors sd = bn.state_dict();
  sd.back().second = Tensor::scalar(40, DType::I64);
  load_state_dict(bn, sd);
  bn.train();
  bn.forward(x);
  CHECK(bn.num_batches_tracked().item() == 41);
}

TEST_CASE("layers: Dropout/Dropout2d draw from the module's context, identity in eval") {
  Dropout drop(0.3);
  Tensor x = test::randn({4, 6}, 3, DType::F64);
  CHECK_THROWS_WITH_AS(drop.forward(x), doctest::Contains("no RandomContext"), Error);
  auto ctx = std::make_shared<RandomContext>(9);
  drop.set_random_context(ctx);
  Tensor y = drop.forward(x);
  CHECK(ctx->generator.offset == 24);
  Generator same(9);
  CHECK_CLOSE(y, dropout(x, 0.3, true, same), tol::kForwardF64);
  drop.eval();
  CHECK(drop.forward(x).same(x));
  CHECK(ctx->generator.offset == 24);

  Dropout2d drop2d(0.2);
  drop2d.set_random_context(ctx);
  Tensor x4 = test::randn({2, 5, 3, 3}, 4, DType::F64);
  drop2d.forward(x4);
  CHECK(ctx->generator.offset == 24 + 10);  // one draw per (sample, channel)
  CHECK_THROWS_WITH_AS(Dropout(1.0), doctest::Contains("[0, 1)"), Error);
}

TEST_CASE("layers: a mask_source replaces drawing (imported masks)") {
  Dropout2d drop(0.25);
  auto ctx = std::make_shared<RandomContext>(1);
  std::string asked;
  ctx->mask_source = [&](const std::string& name, const Shape& shape) {
    asked = name;
    CHECK(shape == Shape{1, 2, 1, 1});
    return Tensor::from_vector<double>({1.0, 0.0}, shape);
  };
  Module root("Root");
  auto d = root.register_module("dropout", std::make_shared<Dropout2d>(0.25));
  root.set_random_context(ctx);
  Tensor x = test::randn({1, 2, 2, 2}, 5, DType::F64);
  auto y = test::values(d->forward(x));
  auto xv = test::values(x);
  CHECK(asked == "dropout");
  for (int i = 0; i < 4; ++i) CHECK(y[size_t(i)] == doctest::Approx(xv[size_t(i)] / 0.75));
  for (int i = 4; i < 8; ++i) CHECK(y[size_t(i)] == 0.0);
  CHECK(ctx->generator.offset == 0);
}

TEST_CASE("layers: squeeze_excite equals x * sigmoid(W2 silu(W1 mean + b1) + b2)") {
  SqueezeExcite se(4, 2);
  CHECK(keys(se) ==
        std::vector<std::string>{"_se_reduce.weight", "_se_reduce.bias", "_se_expand.weight", "_se_expand.bias"});
  se.to(DType::F64);
  randomize(se, 7);
  Tensor x = test::randn({2, 4, 3, 3}, 8, DType::F64);
  auto xv = test::values(x), w1 = test::values(se.se_reduce().weight()), b1 = test::values(se.se_reduce().bias()),
       w2 = test::values(se.se_expand().weight()), b2 = test::values(se.se_expand().bias());
  std::vector<double> expected(xv.size());
  for (int n = 0; n < 2; ++n) {
    double m[4] = {0, 0, 0, 0}, s[2], g[4];
    for (int c = 0; c < 4; ++c)
      for (int i = 0; i < 9; ++i) m[c] += xv[size_t((n * 4 + c) * 9 + i)] / 9.0;
    for (int j = 0; j < 2; ++j) {
      double z = b1[size_t(j)];
      for (int c = 0; c < 4; ++c) z += w1[size_t(j * 4 + c)] * m[c];
      s[j] = z / (1.0 + std::exp(-z));
    }
    for (int c = 0; c < 4; ++c) {
      double z = b2[size_t(c)];
      for (int j = 0; j < 2; ++j) z += w2[size_t(c * 2 + j)] * s[j];
      g[c] = 1.0 / (1.0 + std::exp(-z));
    }
    for (int c = 0; c < 4; ++c)
      for (int i = 0; i < 9; ++i) expected[size_t((n * 4 + c) * 9 + i)] = xv[size_t((n * 4 + c) * 9 + i)] * g[c];
  }
  CHECK_CLOSE(se.forward(x), Tensor::from_vector(expected, x.shape()), tol::kForwardF64);
}

TEST_CASE("layers: MBConvBlock names follow the lukemelas layout") {
  MBConvConfig c;
  c.in_channels = 8;
  c.out_channels = 4;
  c.expand_ratio = 1;
  MBConvBlock no_expand(c);
  CHECK(keys(no_expand)[0] == "_depthwise_conv.weight");
  c.expand_ratio = 6;
  MBConvBlock expand(c);
  std::vector<std::string> k = keys(expand);
  const std::vector<std::string> expected = {"_expand_conv.weight",
                                             "_bn0.weight",
                                             "_bn0.bias",
                                             "_bn0.running_mean",
                                             "_bn0.running_var",
                                             "_bn0.num_batches_tracked",
                                             "_depthwise_conv.weight",
                                             "_bn1.weight",
                                             "_bn1.bias",
                                             "_bn1.running_mean",
                                             "_bn1.running_var",
                                             "_bn1.num_batches_tracked",
                                             "_se_reduce.weight",
                                             "_se_reduce.bias",
                                             "_se_expand.weight",
                                             "_se_expand.bias",
                                             "_project_conv.weight",
                                             "_bn2.weight",
                                             "_bn2.bias",
                                             "_bn2.running_mean",
                                             "_bn2.running_var",
                                             "_bn2.num_batches_tracked"};
  CHECK(k == expected);
  CHECK(expand.squeeze_channels() == 2);  // int(0.25 * INPUT channels), not expanded
  CHECK(expand.tensor("_se_reduce.weight").shape() == Shape{2, 48, 1, 1});
  CHECK(no_expand.state_dict().size() + 6 == expand.state_dict().size());
}

TEST_CASE("layers: MBConvBlock forward = expand, depthwise, SE, project (+ residual)") {
  MBConvConfig c;
  c.in_channels = 4;
  c.out_channels = 4;
  c.expand_ratio = 3;
  c.kernel_size = 5;
  c.stride = 1;
  c.depthwise_padding = {2, 2, 2, 2};
  MBConvBlock block(c);
  block.to(DType::F64);
  randomize(block, 30);
  block.eval();
  CHECK(block.has_residual());
  CHECK(block.squeeze_channels() == 1);
  Tensor x = test::randn({2, 4, 6, 6}, 31, DType::F64);
  auto conv = [&](const char* name, const Tensor& in, const Conv2dOptions& o) {
    return conv2d(in, block.tensor(std::string(name) + ".weight"), Tensor(), o);
  };
  auto bn = [&](const char* name, const Tensor& in) {
    std::string n(name);
    return batch_norm(in, block.tensor(n + ".weight"), block.tensor(n + ".bias"), block.tensor(n + ".running_mean"),
                      block.tensor(n + ".running_var"), false, 0.01, 1e-3);
  };
  Tensor h = silu(bn("_bn0", conv("_expand_conv", x, {})));
  h = silu(bn("_bn1", conv("_depthwise_conv", h, conv_options(1, {2, 2, 2, 2}, 12))));
  Tensor s = global_avg_pool2d(h);
  s = conv2d(s, block.tensor("_se_reduce.weight"), block.tensor("_se_reduce.bias"), {});
  s = conv2d(silu(s), block.tensor("_se_expand.weight"), block.tensor("_se_expand.bias"), {});
  h = mul(sigmoid(s), h);
  h = bn("_bn2", conv("_project_conv", h, {}));
  CHECK_CLOSE(block.forward(x), add(h, x), tol::kForwardF64);
  CHECK(block.macs(6, 6).total() == 12 * 4 * 36 + 12 * 25 * 36 + (12 * 1 + 1 * 12) + 4 * 12 * 36);
}

TEST_CASE("layers: MBConvBlock drop-connect only in training and only on residual blocks") {
  MBConvConfig c;
  c.in_channels = 4;
  c.out_channels = 4;
  c.depthwise_padding = {1, 1, 1, 1};
  c.drop_connect = 0.5;
  MBConvBlock residual(c);
  c.out_channels = 8;
  MBConvBlock plain(c);
  auto ctx = std::make_shared<RandomContext>(4);
  residual.set_random_context(ctx);
  plain.set_random_context(ctx);
  Tensor x = test::randn({3, 4, 5, 5}, 40, DType::F32);
  residual.forward(x);
  CHECK(ctx->generator.offset == 3);  // one uniform per sample
  plain.forward(x);
  CHECK(ctx->generator.offset == 3);
  residual.eval();
  residual.forward(x);
  CHECK(ctx->generator.offset == 3);
}

TEST_CASE("layers: FPN blocks keep SMP's names and sizes") {
  SegmentationBlock s3(16, 8, 3, 4);
  CHECK(keys(s3) == std::vector<std::string>{"block.0.block.0.weight", "block.0.block.1.weight", "block.0.block.1.bias",
                                             "block.1.block.0.weight", "block.1.block.1.weight", "block.1.block.1.bias",
                                             "block.2.block.0.weight", "block.2.block.1.weight",
                                             "block.2.block.1.bias"});
  CHECK(s3.tensor("block.0.block.0.weight").shape() == Shape{8, 16, 3, 3});
  CHECK(s3.tensor("block.1.block.0.weight").shape() == Shape{8, 8, 3, 3});
  int64_t oh = 0, ow = 0;
  CHECK(s3.macs(4, 5, &oh, &ow) == 8 * 16 * 9 * 20 + 8 * 8 * 9 * 80 + 8 * 8 * 9 * 320);
  CHECK(oh == 32);
  CHECK(ow == 40);
  Tensor x = test::randn({1, 16, 4, 5}, 50, DType::F32);
  CHECK(s3.forward(x).shape() == Shape{1, 8, 32, 40});
  SegmentationBlock s0(16, 8, 0, 4);
  CHECK(s0.state_dict().size() == 3);
  CHECK(s0.forward(x).shape() == Shape{1, 8, 4, 5});

  FPNBlock p(8, 3);
  CHECK(keys(p) == std::vector<std::string>{"skip_conv.weight", "skip_conv.bias"});
  p.to(DType::F64);
  randomize(p, 51);
  Tensor coarse = test::randn({1, 8, 2, 3}, 52, DType::F64), skip = test::randn({1, 3, 4, 6}, 53, DType::F64);
  CHECK_CLOSE(p.forward(coarse, skip),
              add(upsample_nearest2x(coarse), conv2d(skip, p.skip_conv().weight(), p.skip_conv().bias(), {})),
              tol::kForwardF64);
}
