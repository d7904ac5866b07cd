#include <doctest/doctest.h>

#include "core/autograd.h"
#include "core/philox.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("creation, dtypes and describe") {
  for (DType t : {DType::F32, DType::F64, DType::BF16, DType::I64, DType::I32, DType::U8}) {
    Tensor x = Tensor::full({2, 3}, 7, t);
    CHECK(x.dtype() == t);
    CHECK(x.numel() == 6);
    CHECK(x.is_contiguous());
    CHECK(x.to(DType::F64).to_vector<double>() == std::vector<double>(6, 7.0));
  }
  CHECK(Tensor::zeros({2, 3}).describe() == "f32[2, 3] cpu");
  Tensor named = Tensor::zeros({4}).set_name("encoder._bn0.weight");
  CHECK(named.describe() == "f32[4] cpu 'encoder._bn0.weight'");
}

TEST_CASE("bf16 rounds to nearest even like PyTorch") {
  CHECK(BFloat16::from_float(1.0f) == 0x3f80);
  CHECK(float(BFloat16(1.00390625f)) == 1.0f);       // tie -> even (down)
  CHECK(float(BFloat16(1.01171875f)) == 1.015625f);  // tie -> even (up)
  CHECK(float(BFloat16(3.14159265f)) == 3.140625f);
  Tensor x = Tensor::from_vector<float>({1.5f, -2.25f, 1e-3f}, {3}).to(DType::BF16).to(DType::F32);
  CHECK(x.to_vector<float>()[0] == 1.5f);
  CHECK(x.to_vector<float>()[1] == -2.25f);
}

TEST_CASE("views share storage and index correctly") {
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i) v[size_t(i)] = i;
  Tensor x = Tensor::from_vector(v, {2, 3, 4});
  Tensor p = x.permute({2, 0, 1});  // [4, 2, 3]
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK_FALSE(p.is_contiguous());
  auto pv = p.contiguous().to_vector<double>();
  CHECK(pv[0 * 6 + 1 * 3 + 2] == x.to_vector<double>()[1 * 12 + 2 * 4 + 0]);
  Tensor s = x.slice(2, 1, 4, 2);  // columns 1 and 3
  CHECK(s.shape() == Shape{2, 3, 2});
  CHECK(s.contiguous().to_vector<double>() == std::vector<double>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23});
  Tensor e = Tensor::from_vector<double>({1, 2, 3}, {3, 1}).expand({3, 4});
  CHECK(e.contiguous().to_vector<double>() == std::vector<double>{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3});
  CHECK(x.reshape({6, -1}).shape() == Shape{6, 4});
  CHECK(x.select(1, 2).shape() == Shape{2, 4});
  CHECK(x.unsqueeze(1).shape() == Shape{2, 1, 3, 4});
  CHECK(x.unsqueeze(3).squeeze(3).shape() == Shape{2, 3, 4});
  s.fill_(-1);  // writes through to x
  CHECK(x.to_vector<double>()[1] == -1);
  CHECK(x.to_vector<double>()[0] == 0);
}

TEST_CASE("view ops are differentiable") {
  Tensor x = randn({2, 3, 4}, 1).set_requires_grad(true);
  Tensor c = randn({3, 1}, 2).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return in[0].permute({2, 0, 1}).slice(1, 1, 2); }, {x});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return in[0].slice(2, 0, 4, 3).reshape({-1}); }, {x});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return in[0].expand({2, 3, 5}); }, {c});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return in[0].select(0, 1).unsqueeze(0).clone(); }, {x});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return in[0].to(DType::F32).to(DType::F64); }, {x},
                  GradcheckOptions{1e-3, {1e-3, 1e-5}});
}

TEST_CASE("bad geometry raises errors naming the op and shapes") {
  Tensor x = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH_AS(x.reshape({4, 2}), doctest::Contains("cannot reshape f32[2, 3] cpu to [4, 2]"), Error);
  CHECK_THROWS_WITH_AS(x.permute({0, 0}), doctest::Contains("permute"), Error);
  CHECK_THROWS_WITH_AS(x.expand({2, 4}), doctest::Contains("expand"), Error);
  CHECK_THROWS_WITH_AS(x.permute({1, 0}).view({6}), doctest::Contains("not contiguous"), Error);
  CHECK_THROWS_WITH_AS(x.slice(1, 2, 1), doctest::Contains("slice"), Error);
  CHECK_THROWS_WITH_AS(x.data<double>(), doctest::Contains("requested f64 from f32[2, 3]"), Error);
  CHECK_THROWS_WITH_AS(Device::parse("gpu"), doctest::Contains("device"), Error);
  if (!cuda_compiled())
    CHECK_THROWS_WITH_AS(Tensor::zeros({2}, DType::F32, Device::cuda(0)), doctest::Contains("no CUDA backend"), Error);
}

TEST_CASE("philox-4x32-10 matches the published known-answer vectors") {
  // Random123 kat_vectors: philox4x32_10 with counter/key all zero and all ones.
  Philox4 r0 = philox4x32_10(Philox4{{0, 0, 0, 0}}, 0, 0);
  CHECK(r0.v[0] == 0x6627e8d5u);
  CHECK(r0.v[1] == 0xe169c58du);
  CHECK(r0.v[2] == 0xbc57ac4cu);
  CHECK(r0.v[3] == 0x9b00dbd8u);
  Philox4 r1 = philox4x32_10(Philox4{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu);
  CHECK(r1.v[0] == 0x408f276du);
  CHECK(r1.v[1] == 0x41c83b0eu);
  CHECK(r1.v[2] == 0xa20bc7c6u);
  CHECK(r1.v[3] == 0x6d5451fdu);
}

TEST_CASE("philox streams are pure functions of (seed, index) and uniform") {
  double sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    float u = philox_uniform(42, uint64_t(i));
    CHECK_MESSAGE((u >= 0.0f && u < 1.0f), "u=", u);
    sum += u;
  }
  CHECK(sum / n == doctest::Approx(0.5).epsilon(0.01));
  CHECK(philox_uniform(42, 12345) == philox_uniform(42, 12345));
  CHECK(philox_uniform(42, 12345) != philox_uniform(43, 12345));
  Generator g(7);
  CHECK(g.take(10) == 0);
  CHECK(g.take(5) == 10);
  CHECK(g.offset == 15);
}
