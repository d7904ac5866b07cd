#include <doctest/doctest.h>

#include <cmath>

#include "ops/dropout.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

// Expected output of a random-mask op computed directly from the Philox
// stream: draw (i / group) decides element i, kept elements are x / (1 - p).
Tensor ref_masked(const Tensor& x, double p, uint64_t seed, uint64_t offset, int64_t group, bool floor_rule) {
  auto v = values(x);
  for (size_t i = 0; i < v.size(); ++i) {
    float u = philox_uniform(seed, offset + uint64_t(int64_t(i) / group));
    bool keep = floor_rule ? std::floor(float(1.0 - p) + u) == 1.0f : double(u) >= p;
    v[i] = keep ? v[i] / (1.0 - p) : 0.0;
  }
  return Tensor::from_vector(v, x.shape());
}

double kept_fraction(const Tensor& y) {
  auto v = values(y);
  double kept = 0;
  for (double e : v) kept += e != 0.0;
  return kept / double(v.size());
}

using RandomOp = Tensor (*)(const Tensor&, double, bool, Generator&);

}  // namespace

TEST_CASE("dropout keeps element i iff philox_uniform(seed, offset + i) >= p") {
  Tensor x = randn({4, 5, 6}, 1);
  Generator gen(1234, 77);
  Tensor y = dropout(x, 0.3, true, gen);
  CHECK(gen.offset == 77 + 120);  // one word per element
  CHECK(gen.seed == 1234);
  CHECK_CLOSE(y, ref_masked(x, 0.3, 1234, 77, 1, false), tol::kForwardF64);
  // same draws in f32
  Generator gen32(1234, 77);
  CHECK_CLOSE(dropout(x.to(DType::F32), 0.3, true, gen32), ref_masked(x, 0.3, 1234, 77, 1, false), tol::kForwardF32);
}

TEST_CASE("dropout2d drops whole (sample, channel) planes from one draw each") {
  Tensor x = randn({3, 4, 5, 2}, 2);
  Generator gen(99, 5);
  Tensor y = dropout2d(x, 0.4, true, gen);
  CHECK(gen.offset == 5 + 12);  // one word per plane
  CHECK_CLOSE(y, ref_masked(x, 0.4, 99, 5, 10, false), tol::kForwardF64);
  // a [N, C] input has single-element planes
  Generator g2(99, 5);
  CHECK_CLOSE(dropout2d(x.reshape({12, 10}), 0.4, true, g2), ref_masked(x.reshape({12, 10}), 0.4, 99, 5, 1, false),
              tol::kForwardF64);
}

TEST_CASE("drop_connect uses the lukemelas mask floor((1 - p) + u) per sample") {
  Tensor x = randn({8, 3, 2, 2}, 3);
  Generator gen(7, 1000);
  const double p = 0.19375;  // the last block's rate in the model
  Tensor y = drop_connect(x, p, true, gen);
  CHECK(gen.offset == 1000 + 8);  // one word per sample
  CHECK_CLOSE(y, ref_masked(x, p, 7, 1000, 12, true), tol::kForwardF64);
  Generator gen32(7, 1000);
  CHECK_CLOSE(drop_connect(x.to(DType::F32), p, true, gen32), ref_masked(x, p, 7, 1000, 12, true), tol::kForwardF32);
}

TEST_CASE("random masks keep about 1 - p of a large tensor") {
  // binomial standard deviation sqrt(p(1-p)/n) <= 1.6e-3 for n >= 1e5: allow 5 sigma
  Generator gen(2024, 0);
  Tensor big = rand_uniform({200000}, 0.5, 1.5, 4);
  for (double p : {0.1, 0.5, 0.8}) {
    CAPTURE(p);
    CHECK(std::fabs(kept_fraction(dropout(big, p, true, gen)) - (1 - p)) < 8e-3);
    CHECK(std::fabs(kept_fraction(dropout2d(big.reshape({1000, 200, 1}), p, true, gen)) - (1 - p)) < 8e-3);
    CHECK(std::fabs(kept_fraction(drop_connect(big.reshape({100000, 2}), p, true, gen)) - (1 - p)) < 8e-3);
  }
  CHECK(gen.offset == 3 * (200000 + 200000 + 100000));
}

TEST_CASE("random masks are deterministic in (seed, offset) and differ otherwise") {
  Tensor x = randn({64, 32}, 5);
  for (RandomOp op : {RandomOp(dropout), RandomOp(dropout2d), RandomOp(drop_connect)}) {
    Generator a(11, 40), b(11, 40), c(11, 41), d(12, 40);
    auto ya = values(op(x, 0.5, true, a));
    CHECK(ya == values(op(x, 0.5, true, b)));
    CHECK(ya != values(op(x, 0.5, true, c)));
    CHECK(ya != values(op(x, 0.5, true, d)));
    // consecutive calls continue the stream: a second draw differs from the first
    CHECK(ya != values(op(x, 0.5, true, a)));
  }
}

TEST_CASE("random masks are the identity in eval mode or with p = 0") {
  Tensor x = randn({2, 3, 4}, 6);
  for (RandomOp op : {RandomOp(dropout), RandomOp(dropout2d), RandomOp(drop_connect)}) {
    Generator gen(1, 10);
    CHECK(op(x, 0.5, false, gen).same(x));
    CHECK(op(x, 0.0, true, gen).same(x));
    CHECK(gen.offset == 10);  // nothing drawn
  }
}

TEST_CASE("random mask gradients reuse the forward mask") {
  Tensor x = randn({3, 4, 3, 2}, 7).set_requires_grad(true);
  for (RandomOp op : {RandomOp(dropout), RandomOp(dropout2d), RandomOp(drop_connect)}) {
    // a fresh generator per call: every evaluation draws the same mask
    CHECK_GRADCHECK(
        [op](const std::vector<Tensor>& in) {
          Generator g(3, 8);
          return op(in[0], 0.4, true, g);
        },
        {x});
    // backward after the generator moved on still uses the forward mask
    x.reset_grad();
    Generator g(3, 8);
    Tensor y = op(x, 0.4, true, g);
    Generator later = g;
    op(x, 0.4, true, later);
    y.backward(Tensor::full(y.shape(), 1.0, DType::F64));
    auto gx = values(x.grad()), vy = values(y), vx = values(x);
    for (size_t i = 0; i < gx.size(); ++i) CHECK(gx[i] == doctest::Approx(vy[i] / vx[i]));
  }
  // non-contiguous input
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Generator g(3, 8);
        return dropout2d(in[0].permute({1, 0, 3, 2}), 0.3, true, g);
      },
      {x});
}

TEST_CASE("apply_mask multiplies by a broadcast constant mask and scale") {
  Tensor x = randn({2, 3, 4, 4}, 8).set_requires_grad(true);
  Tensor mask = Tensor::from_vector<double>({1, 0, 1, 1, 1, 0}, {2, 3, 1, 1}).set_requires_grad(true);
  Tensor y = apply_mask(x, mask, 1.25);
  auto vx = values(x), vy = values(y);
  for (size_t i = 0; i < vx.size(); ++i) {
    double m = (i / 16 == 1 || i / 16 == 5) ? 0.0 : 1.0;
    CHECK(vy[i] == doctest::Approx(vx[i] * m * 1.25));
  }
  y.backward(Tensor::full(y.shape(), 1.0, DType::F64));
  CHECK_FALSE(mask.grad().defined());  // the mask is a constant
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return apply_mask(in[0], mask, 1.25); }, {x});
  // a u8 element mask and an f32 input
  Tensor m8 = Tensor::from_vector<uint8_t>({1, 0, 0, 1}, {4});
  Tensor x32 = randn({2, 3, 4, 4}, 9, DType::F32);
  auto v32 = values(x32), o32 = values(apply_mask(x32, m8, 2.0));
  for (size_t i = 0; i < v32.size(); ++i) CHECK(o32[i] == v32[i] * ((i % 4 == 0 || i % 4 == 3) ? 2.0 : 0.0));
  // non-contiguous input
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return apply_mask(in[0].permute({0, 1, 3, 2}), m8, 0.5); }, {x});
}

TEST_CASE("dropout family rejects bad arguments with the op name") {
  Tensor x = randn({2, 3}, 10);
  Generator gen;
  CHECK_THROWS_WITH_AS(dropout(x, 1.0, true, gen), doctest::Contains("dropout: drop probability 1 outside [0, 1)"),
                       Error);
  CHECK_THROWS_WITH_AS(drop_connect(x, -0.1, true, gen), doctest::Contains("drop_connect: drop probability"), Error);
  CHECK_THROWS_WITH_AS(dropout2d(randn({5}, 11), 0.2, true, gen),
                       doctest::Contains("dropout2d: expected an input [N, C, ...], got f64[5] cpu"), Error);
  CHECK_THROWS_WITH_AS(dropout(Tensor::zeros({0, 2}), 0.2, true, gen), doctest::Contains("dropout: input f32[0, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(drop_connect(Tensor::zeros({2}, DType::I64), 0.2, true, gen),
                       doctest::Contains("drop_connect: input i64[2]"), Error);
  CHECK(gen.offset == 0);  // failed calls draw nothing
  CHECK_THROWS_WITH_AS(apply_mask(x, Tensor::zeros({3, 1}), 1.0),
                       doctest::Contains("apply_mask: mask f32[3, 1] cpu does not broadcast to input f64[2, 3] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(apply_mask(x, Tensor::zeros({1, 2, 3}), 1.0), doctest::Contains("apply_mask"), Error);
  CHECK_THROWS_WITH_AS(apply_mask(x, Tensor(), 1.0), doctest::Contains("apply_mask: mask is an undefined tensor"),
                       Error);
}
