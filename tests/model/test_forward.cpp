#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/autograd.h"
#include "layers/module.h"
#include "model/multitask_model.h"
#include "ops/ops.h"
#include "tasks/dataset.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::model;
using namespace sono::test;

namespace {
// One task of each type (official ids).
const char* kSeg = "cardiac_multi";  // 4 classes
const char* kCls = "organ_cls";      // 6 classes
const char* kReg = "IUGC";           // 3 points
const char* kDet = "thyroid_nodule_det";

MultiTaskModel& b4() {
  static MultiTaskModel model(tasks::model_config());
  return model;
}

MultiTaskModelConfig b0_config(uint64_t seed = 0) {
  MultiTaskModelConfig c = tasks::model_config();
  c.encoder = "efficientnet-b0";
  c.init_seed = seed;
  return c;
}

MultiTaskModel& b0() {
  static MultiTaskModel model(b0_config());
  return model;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// A scalar that depends on every output element with distinct weights.
Tensor weighted_sum(const Tensor& y, uint64_t seed) { return sum(mul(y, randn(y.shape(), seed, y.dtype()))); }
}  // namespace

TEST_CASE("forward: B4 encoder features and output shapes per task type at 1x3x64x64") {
  MultiTaskModel& m = b4();
  m.eval();
  NoGradGuard ng;
  Tensor x = randn({1, 3, 64, 64}, 1, DType::F32);
  std::vector<Tensor> f = m.encoder().forward(x);
  REQUIRE(f.size() == 6);
  const Shape expected[6] = {{1, 3, 64, 64}, {1, 48, 32, 32}, {1, 32, 16, 16},
                             {1, 56, 8, 8},  {1, 160, 4, 4},  {1, 448, 2, 2}};
  for (size_t i = 0; i < 6; ++i) CHECK(f[i].shape() == expected[i]);
  CHECK(f[0].same(x));
  CHECK(m.decoder().forward(f).shape() == Shape{1, 128, 16, 16});
  CHECK(m.forward(x, kSeg).shape() == Shape{1, 4, 64, 64});
  CHECK(m.forward(x, kCls).shape() == Shape{1, 6});
  CHECK(m.forward(x, kReg).shape() == Shape{1, 6});
  CHECK(m.forward(x, kDet).shape() == Shape{1, 5, 16, 16});
  CHECK_THROWS_WITH_AS(m.forward(x, "no_such_task"), doctest::Contains("no_such_task"), Error);
  CHECK_THROWS_WITH_AS(m.forward(randn({1, 1, 64, 64}, 2, DType::F32), kCls), doctest::Contains("EfficientNetEncoder"),
                       Error);
}

TEST_CASE("forward: B0 output shapes per task type at 1x3x256x256") {
  MultiTaskModel& m = b0();
  m.eval();
  NoGradGuard ng;
  Tensor x = randn({1, 3, 256, 256}, 3, DType::F32);
  std::vector<Tensor> f = m.encoder().forward(x);
  const Shape expected[6] = {{1, 3, 256, 256}, {1, 32, 128, 128}, {1, 24, 64, 64},
                             {1, 40, 32, 32},  {1, 112, 16, 16},  {1, 320, 8, 8}};
  for (size_t i = 0; i < 6; ++i) CHECK(f[i].shape() == expected[i]);
  CHECK(m.forward(x, kSeg).shape() == Shape{1, 4, 256, 256});
  CHECK(m.forward(x, kCls).shape() == Shape{1, 6});
  CHECK(m.forward(x, kReg).shape() == Shape{1, 6});
  CHECK(m.forward(x, kDet).shape() == Shape{1, 5, 64, 64});
}

TEST_CASE("forward: detection sigmoid on channels 0..3 only, channel 4 raw") {
  MultiTaskModel& m = b0();
  m.eval();
  NoGradGuard ng;
  Tensor x = randn({1, 3, 64, 64}, 4, DType::F32);
  Tensor raw = static_cast<nn::UnaryModule&>(m.module(std::string("heads.") + kDet + ".conv_block"))
                   .forward(m.decoder().forward(m.encoder().forward(x)));
  Tensor out = m.forward(x, kDet);
  CHECK_CLOSE(out.slice(1, 0, 4), sigmoid(raw.slice(1, 0, 4)), tol::kForwardF64);
  CHECK_CLOSE(out.slice(1, 4, 5), raw.slice(1, 4, 5), tol::kForwardF64);
}

TEST_CASE("forward: classification and regression never run the decoder") {
  MultiTaskModel m(b0_config());
  m.train();
  auto decoder_ctx = std::make_shared<nn::RandomContext>(77);
  m.decoder().set_random_context(decoder_ctx);
  Tensor x = randn({2, 3, 64, 64}, 5, DType::F32);
  const uint64_t model_offset = m.random().generator.offset;
  weighted_sum(m.forward(x, kCls), 6).backward();
  CHECK(decoder_ctx->generator.offset == 0);
  CHECK(m.random().generator.offset > model_offset);  // drop-connect and head dropout drew
  for (const auto& kv : m.decoder().named_parameters()) CHECK_MESSAGE(!kv.second.grad().defined(), kv.first);
  CHECK(m.head(kCls).tensor("head.3.weight").grad().defined());
  m.forward(x, kReg);
  CHECK(decoder_ctx->generator.offset == 0);
  m.forward(x, kSeg);
  CHECK(decoder_ctx->generator.offset == 2 * 128);  // Dropout2d: one draw per (sample, channel)
}

TEST_CASE("forward: train/eval reach every module, eval leaves BN statistics alone") {
  MultiTaskModel& m = b0();
  m.eval();
  for (auto& kv : m.named_modules()) CHECK_MESSAGE(!kv.second->is_training(), kv.first);
  Tensor x = randn({2, 3, 64, 64}, 7, DType::F32);
  const auto before = values(m.tensor("encoder._bn0.running_mean"));
  const double count = m.tensor("encoder._bn0.num_batches_tracked").item();
  Tensor a, b;
  {
    NoGradGuard ng;
    a = m.forward(x, kSeg);
    b = m.forward(x, kSeg);  // eval: no dropout, deterministic
  }
  CHECK(values(a) == values(b));
  CHECK(values(m.tensor("encoder._bn0.running_mean")) == before);
  CHECK(m.tensor("encoder._bn0.num_batches_tracked").item() == count);
  m.train();
  for (auto& kv : m.named_modules()) CHECK_MESSAGE(kv.second->is_training(), kv.first);
  {
    NoGradGuard ng;
    m.forward(x, kSeg);
  }
  CHECK(values(m.tensor("encoder._bn0.running_mean")) != before);
  CHECK(m.tensor("encoder._bn0.num_batches_tracked").item() == count + 1);
  // the detection head's BNs and the unused head BN only count their own batches
  CHECK(m.tensor(std::string("heads.") + kDet + ".conv_block.1.num_batches_tracked").item() == 0);
  CHECK(m.tensor("encoder._bn1.num_batches_tracked").item() == 0);
  m.eval();
}

TEST_CASE("forward: backward through B0 reaches every used parameter and nothing else") {
  for (const char* task : {kSeg, kDet}) {
    CAPTURE(task);
    MultiTaskModel m(b0_config(1));
    m.train();
    // Keep-all masks: a drop-connect that happened to drop a residual branch
    // for the whole batch would leave that block with exactly zero gradients.
    m.random().mask_source = [](const std::string&, const Shape& shape) { return Tensor::full(shape, 1.0); };
    Tensor x = randn({2, 3, 64, 64}, 8, DType::F32);
    weighted_sum(m.forward(x, task), 9).backward();
    int with_grad = 0;
    for (const auto& kv : m.named_parameters()) {
      const std::string& k = kv.first;
      const bool unused_head = starts_with(k, "encoder._conv_head.") || starts_with(k, "encoder._bn1.");
      const bool other_head = starts_with(k, "heads.") && !starts_with(k, std::string("heads.") + task + ".");
      const bool expect = !unused_head && !other_head;
      CHECK_MESSAGE(kv.second.grad().defined() == expect, k);
      if (expect && kv.second.grad().defined()) {
        ++with_grad;
        double norm = 0;
        for (double g : values(kv.second.grad())) norm += g * g;
        CHECK_MESSAGE(std::isfinite(norm), k);
        // Every used parameter influences the weighted sum; an all-zero
        // gradient would mean a disconnected branch.
        CHECK_MESSAGE(norm > 0, k);
      }
    }
    CHECK(with_grad > 200);
  }
}

TEST_CASE("forward: seeded initialisation per docs/reference-model.md 7.4, weights load from safetensors") {
  MultiTaskModel a(b0_config(5)), b(b0_config(5)), c(b0_config(6));
  CHECK(values(a.tensor("encoder._conv_stem.weight")) == values(b.tensor("encoder._conv_stem.weight")));
  CHECK(values(a.tensor("heads.organ_cls.head.3.weight")) == values(b.tensor("heads.organ_cls.head.3.weight")));
  CHECK(values(a.tensor("encoder._conv_stem.weight")) != values(c.tensor("encoder._conv_stem.weight")));
  auto max_abs = [](const Tensor& t) {
    double m = 0;
    for (double v : values(t)) m = std::max(m, std::fabs(v));
    return m;
  };
  // decoder: kaiming-uniform (ReLU gain, fan_in), zero bias, GroupNorm 1/0
  const double p5_bound = std::sqrt(6.0 / 320.0);
  CHECK(max_abs(a.tensor("fpn_decoder.p5.weight")) <= p5_bound);
  CHECK(max_abs(a.tensor("fpn_decoder.p5.weight")) > 0.9 * p5_bound);
  CHECK(max_abs(a.tensor("fpn_decoder.p5.bias")) == 0.0);
  CHECK(max_abs(a.tensor("fpn_decoder.seg_blocks.0.block.0.block.0.weight")) <= std::sqrt(6.0 / (256 * 9)));
  CHECK(values(a.tensor("fpn_decoder.seg_blocks.3.block.0.block.1.weight")) == std::vector<double>(128, 1.0));
  // heads and encoder: PyTorch defaults (bound 1/sqrt(fan_in), bias too)
  CHECK(max_abs(a.tensor("heads.organ_cls.head.3.weight")) <= 1.0 / std::sqrt(320.0));
  CHECK(max_abs(a.tensor("heads.organ_cls.head.3.bias")) <= 1.0 / std::sqrt(320.0));
  CHECK(max_abs(a.tensor("heads.organ_cls.head.3.bias")) > 0.0);
  CHECK(max_abs(a.tensor("encoder._conv_stem.weight")) <= 1.0 / std::sqrt(27.0));
  CHECK(values(a.tensor("encoder._bn0.running_var")) == std::vector<double>(32, 1.0));

  const std::string path =
      (std::filesystem::temp_directory_path() / ("sono_b0_" + std::to_string(::getpid()) + ".safetensors")).string();
  nn::save_safetensors(a, path);
  nn::load_safetensors(c, path);
  std::filesystem::remove(path);
  a.eval();
  c.eval();
  NoGradGuard ng;
  Tensor x = randn({1, 3, 64, 64}, 10, DType::F32);
  CHECK(values(a.forward(x, kReg)) == values(c.forward(x, kReg)));
  CHECK(values(a.forward(x, kSeg)) == values(c.forward(x, kSeg)));
}
