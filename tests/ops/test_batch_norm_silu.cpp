// batch_norm_silu: forward against a plain reference and against the unfused
// silu(batch_norm(x)), the running-statistics update, gradients against
// finite differences (f64) and against the unfused ops, NaN propagation, and
// the graph keeping only the batch norm's input.
#include <doctest/doctest.h>

#include <cmath>

#include "ops/activation.h"
#include "ops/batch_norm_silu.h"
#include "ops/norm.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

constexpr double kMomentum = 1 - 0.99, kEps = 1e-3;  // the encoder's BN (docs/reference-model.md 2.1)

Tensor input(const Shape& shape, uint64_t seed) {
  auto v = values(randn(shape, seed, DType::F64, 1.5));
  for (auto& e : v) e += 0.7;  // offset: a wrong mean cannot hide
  return Tensor::from_vector(v, shape);
}
Tensor positive(const Shape& shape, uint64_t seed) { return rand_uniform(shape, 0.5, 2.0, seed); }

// silu((x - mean) / sqrt(var + eps) * w + b) in long double, batch statistics
// (biased variance) when training, else the running ones.
Tensor reference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv, bool training) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C);
  auto xv = values(x);
  std::vector<double> y(xv.size());
  for (int64_t c = 0; c < C; ++c) {
    long double sum = 0, sq = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) sum += xv[size_t((n * C + c) * S + s)];
    const long double mean = sum / (N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s)
        sq += (xv[size_t((n * C + c) * S + s)] - mean) * (xv[size_t((n * C + c) * S + s)] - mean);
    const long double m = training ? mean : values(rm)[size_t(c)];
    const long double v = training ? sq / (N * S) : values(rv)[size_t(c)];
    const long double wc = w.defined() ? values(w)[size_t(c)] : 1.0, bc = b.defined() ? values(b)[size_t(c)] : 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const size_t i = size_t((n * C + c) * S + s);
        const long double z = (xv[i] - m) / std::sqrt(v + kEps) * wc + bc;
        y[i] = double(z / (1 + std::exp(-z)));
      }
  }
  return Tensor::from_vector(y, x.shape());
}

Tensor unfused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv, bool training) {
  return silu(batch_norm(x, w, b, rm, rv, training, kMomentum, kEps));
}

}  // namespace

TEST_CASE("batch_norm_silu matches a plain reference and updates the running statistics as batch_norm") {
  for (Shape shape : {Shape{3, 4, 5, 6}, Shape{7, 5}}) {
    for (bool training : {true, false}) {
      for (bool affine : {true, false}) {
        CAPTURE(shape_str(shape));
        CAPTURE(training);
        CAPTURE(affine);
        const int64_t C = shape[1];
        Tensor x = input(shape, 1), w = affine ? randn({C}, 2) : Tensor(), b = affine ? randn({C}, 3) : Tensor();
        Tensor rm = randn({C}, 4), rv = positive({C}, 5), rm2 = rm.clone(), rv2 = rv.clone();
        Tensor want = reference(x, w, b, rm, rv, training);
        CHECK_CLOSE(batch_norm_silu(x, w, b, rm, rv, training, kMomentum, kEps), want, tol::kForwardF64);
        batch_norm(x, w, b, rm2, rv2, training, kMomentum, kEps);
        CHECK(values(rm) == values(rm2));
        CHECK(values(rv) == values(rv2));
      }
    }
  }
}

TEST_CASE("batch_norm_silu f32 equals the unfused silu(batch_norm(x)) and matches the f64 reference") {
  Tensor x = input({4, 6, 9, 11}, 6), w = randn({6}, 7), b = randn({6}, 8), rm = randn({6}, 9), rv = positive({6}, 10);
  for (bool training : {true, false}) {
    CAPTURE(training);
    Tensor x32 = x.to(DType::F32), w32 = w.to(DType::F32), b32 = b.to(DType::F32);
    Tensor rm32 = rm.to(DType::F32), rv32 = rv.to(DType::F32), rm32u = rm32.clone(), rv32u = rv32.clone();
    Tensor fused = batch_norm_silu(x32, w32, b32, rm32, rv32, training, kMomentum, kEps);
    // The same f32 expressions in the same order: bit for bit.
    CHECK(values(fused) == values(unfused(x32, w32, b32, rm32u, rv32u, training)));
    CHECK(values(rm32) == values(rm32u));
    CHECK_CLOSE(fused, reference(x, w, b, rm, rv, training), tol::kForwardF32);
  }
}

TEST_CASE("batch_norm_silu gradients match finite differences (training and eval, with and without affine)") {
  for (Shape shape : {Shape{2, 3, 4, 5}, Shape{6, 3}}) {
    CAPTURE(shape_str(shape));
    Tensor x = input(shape, 11).set_requires_grad(true);
    Tensor w = randn({3}, 12).set_requires_grad(true), b = randn({3}, 13).set_requires_grad(true);
    Tensor rm = randn({3}, 14), rv = positive({3}, 15);
    for (bool training : {true, false}) {
      CAPTURE(training);
      CHECK_GRADCHECK(
          [&](const std::vector<Tensor>& in) {
            return batch_norm_silu(in[0], in[1], in[2], rm, rv, training, kMomentum, kEps);
          },
          {x, w, b});
      CHECK_GRADCHECK(
          [&](const std::vector<Tensor>& in) {
            return batch_norm_silu(in[0], Tensor(), Tensor(), rm, rv, training, kMomentum, kEps);
          },
          {x});
    }
  }
}

TEST_CASE("batch_norm_silu gradients equal the unfused ops' (f64 and f32)") {
  for (DType t : {DType::F64, DType::F32}) {
    for (bool training : {true, false}) {
      CAPTURE(dtype_name(t));
      CAPTURE(training);
      const Shape shape{3, 5, 6, 7};
      Tensor gy = randn(shape, 16, t), rm = randn({5}, 17, t), rv = positive({5}, 18).to(t);
      std::vector<Tensor> grads[2];
      for (int fused = 0; fused < 2; ++fused) {
        Tensor x = input(shape, 19).to(t).set_requires_grad(true);
        Tensor w = randn({5}, 20, t).set_requires_grad(true), b = randn({5}, 21, t).set_requires_grad(true);
        Tensor rmc = rm.clone(), rvc = rv.clone();
        Tensor y = fused ? batch_norm_silu(x, w, b, rmc, rvc, training, kMomentum, kEps)
                         : unfused(x, w, b, rmc, rvc, training);
        y.backward(gy);
        grads[fused] = {x.grad(), w.grad(), b.grad()};
      }
      // z is recomputed from the saved (rounded) invstd: equal up to rounding.
      const Tolerance tl = t == DType::F64 ? tol::kForwardF64 : tol::kGradReductionF32;
      for (size_t i = 0; i < 3; ++i) CHECK_CLOSE(grads[1][i], grads[0][i], tl);
    }
  }
}

TEST_CASE("batch_norm_silu keeps only the batch norm input for backward, and computes only the wanted gradients") {
  Tensor x = input({2, 3, 4}, 22), w = randn({3}, 23).set_requires_grad(true), b = randn({3}, 24);
  Tensor rm = randn({3}, 25), rv = positive({3}, 26);
  Tensor y = batch_norm_silu(x, w, b, rm, rv, true, kMomentum, kEps);
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(std::string(y.grad_fn()->name()) == "BatchNormSiluBackward");
  CHECK(y.grad_fn()->next.size() == 3);  // x, weight, bias; the BN output is never a node
  y.backward(randn(y.shape(), 27));
  CHECK(w.grad().defined());
  CHECK_FALSE(x.requires_grad());
  CHECK(rm.grad_fn() == nullptr);
}

TEST_CASE("batch_norm_silu accepts non-contiguous input and running statistics") {
  Tensor base = input({2, 5, 4, 3}, 28).set_requires_grad(true);
  Tensor w = randn({3}, 29), b = randn({3}, 30);
  Tensor rm_buf = randn({6}, 31), rv_buf = positive({6}, 32);
  Tensor rm = rm_buf.slice(0, 0, 6, 2), rv = rv_buf.slice(0, 0, 6, 2);
  Tensor rm2 = rm.clone(), rv2 = rv.clone();
  Tensor x = base.permute({2, 3, 0, 1});  // [4, 3, 2, 5]
  CHECK_CLOSE(batch_norm_silu(x, w, b, rm, rv, true, kMomentum, kEps), reference(x, w, b, rm, rv, true),
              tol::kForwardF64);
  batch_norm(x, w, b, rm2, rv2, true, kMomentum, kEps);
  CHECK_CLOSE(rm, rm2, tol::kForwardF64);
  CHECK_CLOSE(rv, rv2, tol::kForwardF64);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return batch_norm_silu(in[0].permute({2, 3, 0, 1}), w, b, Tensor(), Tensor(), true, kMomentum, kEps);
      },
      {base});
}

TEST_CASE("batch_norm_silu propagates NaN: a NaN input poisons its channel's output and gradients") {
  for (bool training : {true, false}) {
    CAPTURE(training);
    auto v = values(input({2, 3, 2, 2}, 33));
    v[size_t(1 * 4 + 2)] = std::nan("");  // sample 0, channel 1
    Tensor x = Tensor::from_vector(v, {2, 3, 2, 2}).set_requires_grad(true);
    Tensor w = randn({3}, 34).set_requires_grad(true), b = randn({3}, 35);
    Tensor y = batch_norm_silu(x, w, b, randn({3}, 36), positive({3}, 37), training, kMomentum, kEps);
    auto yv = values(y);
    CHECK(std::isnan(yv[size_t(1 * 4 + 2)]));
    if (training) CHECK(std::isnan(yv[size_t((3 + 1) * 4)]));  // the batch mean of channel 1 is NaN
    y.backward(randn(y.shape(), 38));
    CHECK(std::isnan(values(w.grad())[1]));
    CHECK(std::isnan(values(x.grad())[size_t(1 * 4 + 2)]));
    CHECK_FALSE(std::isnan(values(w.grad())[0]));
  }
}

TEST_CASE("batch_norm_silu rejects bad input naming the op and the tensor") {
  Tensor x = input({2, 3, 4, 4}, 39), rm = randn({3}, 40), rv = positive({3}, 41);
  CHECK_THROWS_WITH_AS(batch_norm_silu(x, randn({4}, 42), Tensor(), rm, rv, true, 0.1, 1e-5),
                       doctest::Contains("batch_norm_silu: weight f64[4] cpu does not match the 3 channels of input "
                                         "f64[2, 3, 4, 4] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm_silu(x, Tensor(), Tensor(), Tensor(), Tensor(), false, 0.1, 1e-5),
                       doctest::Contains("batch_norm_silu: evaluation mode needs running_mean"), Error);
  CHECK_THROWS_WITH_AS(batch_norm_silu(randn({6}, 43), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5),
                       doctest::Contains("batch_norm_silu: expected an input [N, C, ...], got f64[6] cpu"), Error);
  CHECK_THROWS_WITH_AS(batch_norm_silu(input({1, 3, 1, 1}, 44), Tensor(), Tensor(), rm, rv, true, 0.1, 1e-5),
                       doctest::Contains("batch_norm_silu: expected more than 1 value per channel"), Error);
}
