#include <doctest/doctest.h>

#include <cmath>

#include "ops/norm.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

constexpr double kEncoderMomentum = 1 - 0.99, kEncoderEps = 1e-3;  // docs/reference-model.md 2.1
constexpr double kHeadMomentum = 0.1, kHeadEps = 1e-5;             // detection-head BN

// x [N, C, S...] flattened: element (n, c, s) at (n * C + c) * S + s.
struct Layout {
  int64_t n, c, s;
  explicit Layout(const Tensor& x) : n(x.size(0)), c(x.size(1)), s(x.numel() / (x.size(0) * x.size(1))) {}
};

// Mean and biased variance of the values idx(0..count-1), in long double so
// the reference stays exact enough for inputs far from zero.
template <class Index>
std::pair<double, double> moments(const std::vector<double>& v, int64_t count, Index idx) {
  long double sum = 0;
  for (int64_t i = 0; i < count; ++i) sum += v[size_t(idx(i))];
  long double mean = sum / count, sq = 0;
  for (int64_t i = 0; i < count; ++i) sq += (v[size_t(idx(i))] - mean) * (v[size_t(idx(i))] - mean);
  return {double(mean), double(sq / count)};
}

struct BatchNormRef {
  Tensor y, batch_mean, batch_var_unbiased;
};

BatchNormRef ref_batch_norm(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv,
                            bool training, double eps) {
  const Layout L(x);
  auto xv = values(x);
  std::vector<double> y(xv.size()), bm(size_t(L.c)), bv(size_t(L.c));
  for (int64_t c = 0; c < L.c; ++c) {
    auto [mean, var] = moments(xv, L.n * L.s, [&](int64_t i) { return ((i / L.s) * L.c + c) * L.s + i % L.s; });
    bm[size_t(c)] = mean;
    bv[size_t(c)] = var * double(L.n * L.s) / double(L.n * L.s - 1);
    double m = training ? mean : values(rm)[size_t(c)];
    double v = training ? var : values(rv)[size_t(c)];
    double wc = w.defined() ? values(w)[size_t(c)] : 1.0, bc = b.defined() ? values(b)[size_t(c)] : 0.0;
    for (int64_t n = 0; n < L.n; ++n)
      for (int64_t s = 0; s < L.s; ++s) {
        size_t i = size_t((n * L.c + c) * L.s + s);
        y[i] = (xv[i] - m) / std::sqrt(v + eps) * wc + bc;
      }
  }
  return {Tensor::from_vector(y, x.shape()), Tensor::from_vector(bm, {L.c}), Tensor::from_vector(bv, {L.c})};
}

Tensor ref_group_norm(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b, double eps) {
  const Layout L(x);
  const int64_t d = L.c / groups, count = d * L.s;
  auto xv = values(x);
  std::vector<double> y(xv.size());
  for (int64_t n = 0; n < L.n; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t start = (n * L.c + g * d) * L.s;  // a group is contiguous
      auto [mean, var] = moments(xv, count, [&](int64_t i) { return start + i; });
      for (int64_t i = 0; i < count; ++i) {
        const int64_t c = g * d + i / L.s;
        double wc = w.defined() ? values(w)[size_t(c)] : 1.0, bc = b.defined() ? values(b)[size_t(c)] : 0.0;
        y[size_t(start + i)] = (xv[size_t(start + i)] - mean) / std::sqrt(var + eps) * wc + bc;
      }
    }
  return Tensor::from_vector(y, x.shape());
}

// Random x with a per-tensor offset, so a wrong mean cannot hide.
Tensor input(const Shape& shape, uint64_t seed, double offset = 0.7) {
  auto v = values(randn(shape, seed, DType::F64, 1.5));
  for (auto& e : v) e += offset;
  return Tensor::from_vector(v, shape);
}
Tensor positive(const Shape& shape, uint64_t seed) { return rand_uniform(shape, 0.5, 2.0, seed); }

Tensor lerp_expected(const Tensor& running, const Tensor& batch, double momentum) {
  auto r = values(running), b = values(batch);
  for (size_t i = 0; i < r.size(); ++i) r[i] = (1 - momentum) * r[i] + momentum * b[i];
  return Tensor::from_vector(r, running.shape());
}

}  // namespace

TEST_CASE("batch_norm training: output and running-stat update match a plain reference") {
  for (Shape shape : {Shape{3, 4, 5, 6}, Shape{7, 5}}) {
    CAPTURE(shape_str(shape));
    const int64_t C = shape[1];
    Tensor x = input(shape, 1), w = randn({C}, 2), b = randn({C}, 3);
    Tensor rm = randn({C}, 4), rv = positive({C}, 5);
    Tensor rm0 = rm.clone(), rv0 = rv.clone();
    for (auto [momentum, eps] : {std::pair{kEncoderMomentum, kEncoderEps}, std::pair{kHeadMomentum, kHeadEps}}) {
      rm.copy_(rm0);
      rv.copy_(rv0);
      BatchNormRef ref = ref_batch_norm(x, w, b, rm, rv, true, eps);
      CHECK_CLOSE(batch_norm(x, w, b, rm, rv, true, momentum, eps), ref.y, tol::kForwardF64);
      CHECK_CLOSE(rm, lerp_expected(rm0, ref.batch_mean, momentum), tol::kForwardF64);
      CHECK_CLOSE(rv, lerp_expected(rv0, ref.batch_var_unbiased, momentum), tol::kForwardF64);
    }
  }
}

TEST_CASE("batch_norm eval normalizes with the running statistics and leaves them unchanged") {
  Tensor x = input({2, 3, 4, 5}, 6), w = randn({3}, 7), b = randn({3}, 8);
  Tensor rm = randn({3}, 9), rv = positive({3}, 10);
  auto rm0 = values(rm), rv0 = values(rv);
  CHECK_CLOSE(batch_norm(x, w, b, rm, rv, false, kHeadMomentum, kHeadEps),
              ref_batch_norm(x, w, b, rm, rv, false, kHeadEps).y, tol::kForwardF64);
  CHECK(values(rm) == rm0);
  CHECK(values(rv) == rv0);
}

TEST_CASE("batch_norm without affine parameters or running statistics") {
  Tensor x = input({4, 3, 2, 3}, 11), rm = randn({3}, 12), rv = positive({3}, 13);
  CHECK_CLOSE(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, kEncoderMomentum, kEncoderEps),
              ref_batch_norm(x, Tensor(), Tensor(), rm, rv, true, kEncoderEps).y, tol::kForwardF64);
  CHECK_CLOSE(batch_norm(x, Tensor(), Tensor(), rm, rv, false, kEncoderMomentum, kEncoderEps),
              ref_batch_norm(x, Tensor(), Tensor(), rm, rv, false, kEncoderEps).y, tol::kForwardF64);
}

TEST_CASE("batch_norm f32 matches the f64 reference") {
  Tensor x = input({4, 6, 9, 11}, 14), w = randn({6}, 15), b = randn({6}, 16);
  Tensor rm = randn({6}, 17), rv = positive({6}, 18);
  BatchNormRef ref = ref_batch_norm(x, w, b, rm, rv, true, kEncoderEps);
  Tensor rm32 = rm.to(DType::F32), rv32 = rv.to(DType::F32);
  Tensor x32 = x.to(DType::F32), w32 = w.to(DType::F32), b32 = b.to(DType::F32);
  CHECK_CLOSE(batch_norm(x32, w32, b32, rm32, rv32, true, kEncoderMomentum, kEncoderEps), ref.y, tol::kForwardF32);
  CHECK_CLOSE(rm32, lerp_expected(rm, ref.batch_mean, kEncoderMomentum), tol::kForwardF32);
  CHECK_CLOSE(rv32, lerp_expected(rv, ref.batch_var_unbiased, kEncoderMomentum), tol::kForwardF32);
  Tensor rm_eval = randn({6}, 19), rv_eval = positive({6}, 20);
  CHECK_CLOSE(batch_norm(x32, w32, b32, rm_eval.to(DType::F32), rv_eval.to(DType::F32), false, kHeadMomentum, kHeadEps),
              ref_batch_norm(x, w, b, rm_eval, rv_eval, false, kHeadEps).y, tol::kForwardF32);
}

TEST_CASE("batch_norm statistics stay exact for inputs far from zero") {
  // A one-pass sum of squares would lose ~1e-6 of the variance at this offset.
  Tensor x = input({3, 2, 6, 5}, 21, 1e5);
  CHECK_CLOSE(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, kEncoderMomentum, kEncoderEps),
              ref_batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, kEncoderEps).y,
              tol::kForwardF64LargeOffset);
  CHECK_CLOSE(group_norm(x, 1, Tensor(), Tensor(), kHeadEps), ref_group_norm(x, 1, Tensor(), Tensor(), kHeadEps),
              tol::kForwardF64LargeOffset);
}

TEST_CASE("batch_norm gradients match finite differences (training and eval)") {
  for (Shape shape : {Shape{2, 3, 4, 5}, Shape{6, 3}}) {
    CAPTURE(shape_str(shape));
    Tensor x = input(shape, 22).set_requires_grad(true);
    Tensor w = randn({3}, 23).set_requires_grad(true), b = randn({3}, 24).set_requires_grad(true);
    Tensor rm = randn({3}, 25), rv = positive({3}, 26);
    for (bool training : {true, false}) {
      CAPTURE(training);
      CHECK_GRADCHECK(
          [&](const std::vector<Tensor>& in) {
            return batch_norm(in[0], in[1], in[2], rm, rv, training, kHeadMomentum, kEncoderEps);
          },
          {x, w, b});
      CHECK_GRADCHECK(
          [&](const std::vector<Tensor>& in) {
            return batch_norm(in[0], Tensor(), Tensor(), rm, rv, training, kHeadMomentum, kEncoderEps);
          },
          {x});
    }
  }
}

TEST_CASE("batch_norm computes only the gradients that are needed and never records the running stats") {
  Tensor x = input({2, 3, 4}, 27), w = randn({3}, 28).set_requires_grad(true), b = randn({3}, 29);
  Tensor rm = randn({3}, 30), rv = positive({3}, 31);
  Tensor y = batch_norm(x, w, b, rm, rv, true, kHeadMomentum, kHeadEps);
  y.backward(randn(y.shape(), 32));
  CHECK(w.grad().defined());
  CHECK_FALSE(x.requires_grad());
  CHECK_FALSE(rm.requires_grad());
  CHECK(rm.grad_fn() == nullptr);
  CHECK(rv.grad_fn() == nullptr);
}

TEST_CASE("batch_norm accepts non-contiguous input, parameters and running statistics") {
  Tensor base = input({2, 5, 4, 3}, 33).set_requires_grad(true);
  Tensor w = randn({3}, 34), b = randn({3}, 35);
  // Running statistics as every other element of a longer buffer.
  Tensor rm_buf = randn({6}, 36), rv_buf = positive({6}, 37);
  Tensor rm = rm_buf.slice(0, 0, 6, 2), rv = rv_buf.slice(0, 0, 6, 2);
  Tensor rm0 = rm.clone(), rv0 = rv.clone();
  Tensor x = base.permute({2, 3, 0, 1});  // [4, 3, 2, 5], channels of stride 1
  BatchNormRef ref = ref_batch_norm(x, w, b, rm, rv, true, kEncoderEps);
  CHECK_CLOSE(batch_norm(x, w, b, rm, rv, true, kEncoderMomentum, kEncoderEps), ref.y, tol::kForwardF64);
  CHECK_CLOSE(rm, lerp_expected(rm0, ref.batch_mean, kEncoderMomentum), tol::kForwardF64);
  CHECK_CLOSE(rv, lerp_expected(rv0, ref.batch_var_unbiased, kEncoderMomentum), tol::kForwardF64);
  CHECK(values(rm_buf)[1] == values(randn({6}, 36))[1]);  // the elements between are untouched
  Tensor wb = randn({3, 2}, 38).set_requires_grad(true);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return batch_norm(in[0].permute({2, 3, 0, 1}), in[1].select(1, 1), Tensor(), Tensor(), Tensor(), true,
                          kEncoderMomentum, kEncoderEps);
      },
      {base, wb});
}

TEST_CASE("batch_norm rejects bad input with the op name and shapes") {
  Tensor x = input({2, 3, 4, 4}, 39), w = randn({3}, 40), rm = randn({3}, 41), rv = positive({3}, 42);
  CHECK_THROWS_WITH_AS(batch_norm(x, randn({4}, 43), Tensor(), rm, rv, true, 0.1, 1e-5),
                       doctest::Contains("batch_norm: weight f64[4] cpu does not match the 3 channels of input "
                                         "f64[2, 3, 4, 4] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, w, randn({3, 1}, 44), rm, rv, true, 0.1, 1e-5),
                       doctest::Contains("batch_norm: bias f64[3, 1]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, w, Tensor(), randn({2}, 45), rv, true, 0.1, 1e-5),
                       doctest::Contains("batch_norm: running_mean f64[2]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, w, Tensor(), rm, positive({5}, 46), false, 0.1, 1e-5),
                       doctest::Contains("batch_norm: running_var f64[5]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, w, Tensor(), Tensor(), Tensor(), false, 0.1, 1e-5),
                       doctest::Contains("batch_norm: evaluation mode needs running_mean"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, w.to(DType::F32), Tensor(), rm, rv, true, 0.1, 1e-5),
                       doctest::Contains("batch_norm"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(randn({6}, 47), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5),
                       doctest::Contains("batch_norm: expected an input [N, C, ...], got f64[6] cpu"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({0, 3, 2, 2}), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5),
                       doctest::Contains("batch_norm: input f32[0, 3, 2, 2] cpu is empty"), Error);
  CHECK_THROWS_WITH_AS(
      batch_norm(Tensor::zeros({2, 3}, DType::I64), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5),
      doctest::Contains("batch_norm: input i64[2, 3] cpu"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(input({1, 3, 1, 1}, 48), w, Tensor(), rm, rv, true, 0.1, 1e-5),
                       doctest::Contains("batch_norm: expected more than 1 value per channel when training, got "
                                         "input f64[1, 3, 1, 1] cpu"),
                       Error);
  CHECK_THROWS_AS(batch_norm(input({1, 3}, 49), w, Tensor(), rm, rv, true, 0.1, 1e-5), Error);
  // one value per channel is fine in eval mode
  CHECK_NOTHROW(batch_norm(input({1, 3}, 50), w, Tensor(), rm, rv, false, 0.1, 1e-5));
}

TEST_CASE("group_norm matches a plain reference for 1, 2 and C groups") {
  for (Shape shape : {Shape{2, 6, 3, 4}, Shape{3, 6, 5}, Shape{2, 6}}) {
    CAPTURE(shape_str(shape));
    Tensor x = input(shape, 51), w = randn({6}, 52), b = randn({6}, 53);
    for (int64_t groups : {1, 2, 6}) {
      CAPTURE(groups);
      if (shape.size() == 2 && groups == 6) continue;  // one value per group: variance 0, tested below
      CHECK_CLOSE(group_norm(x, groups, w, b, kHeadEps), ref_group_norm(x, groups, w, b, kHeadEps), tol::kForwardF64);
      CHECK_CLOSE(group_norm(x, groups, Tensor(), Tensor(), kHeadEps),
                  ref_group_norm(x, groups, Tensor(), Tensor(), kHeadEps), tol::kForwardF64);
    }
  }
  // A group of one value normalizes to 0: the output is the bias.
  Tensor x = input({2, 6}, 54), b = randn({6}, 55);
  CHECK_CLOSE(group_norm(x, 6, randn({6}, 56), b, kHeadEps), b.unsqueeze(0).expand({2, 6}).contiguous(),
              tol::kForwardF64);
}

TEST_CASE("group_norm f32 matches the f64 reference (32 groups of 128 channels)") {
  Tensor x = input({2, 128, 6, 7}, 57), w = randn({128}, 58), b = randn({128}, 59);
  CHECK_CLOSE(group_norm(x.to(DType::F32), 32, w.to(DType::F32), b.to(DType::F32), kHeadEps),
              ref_group_norm(x, 32, w, b, kHeadEps), tol::kForwardF32);
}

TEST_CASE("group_norm gradients match finite differences") {
  Tensor x = input({2, 4, 3, 3}, 60).set_requires_grad(true);
  Tensor w = randn({4}, 61).set_requires_grad(true), b = randn({4}, 62).set_requires_grad(true);
  for (int64_t groups : {1, 2, 4}) {
    CAPTURE(groups);
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return group_norm(in[0], groups, in[1], in[2], kHeadEps); },
                    {x, w, b});
  }
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return group_norm(in[0], 2, Tensor(), Tensor(), kHeadEps); },
                  {x});
}

TEST_CASE("group_norm accepts non-contiguous input") {
  Tensor base = input({3, 4, 2, 6}, 63).set_requires_grad(true);
  Tensor w = randn({6}, 64).set_requires_grad(true);
  Tensor x = base.permute({2, 3, 0, 1});  // [2, 6, 3, 4]
  CHECK_CLOSE(group_norm(x, 3, w, Tensor(), kHeadEps), ref_group_norm(x, 3, w, Tensor(), kHeadEps), tol::kForwardF64);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return group_norm(in[0].permute({2, 3, 0, 1}), 3, in[1], Tensor(), kHeadEps);
      },
      {base, w});
}

TEST_CASE("group_norm rejects bad input with the op name and shapes") {
  Tensor x = input({2, 6, 3, 3}, 65);
  CHECK_THROWS_WITH_AS(group_norm(x, 4, Tensor(), Tensor(), 1e-5),
                       doctest::Contains("group_norm: 4 groups do not divide the 6 channels of input "
                                         "f64[2, 6, 3, 3] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 0, Tensor(), Tensor(), 1e-5), doctest::Contains("group_norm: 0 groups"), Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 2, randn({3}, 66), Tensor(), 1e-5),
                       doctest::Contains("group_norm: weight f64[3] cpu does not match the 6 channels"), Error);
  CHECK_THROWS_WITH_AS(group_norm(x, 2, Tensor(), randn({7}, 67), 1e-5), doctest::Contains("group_norm: bias f64[7]"),
                       Error);
  CHECK_THROWS_WITH_AS(group_norm(randn({6}, 68), 2, Tensor(), Tensor(), 1e-5),
                       doctest::Contains("group_norm: expected an input [N, C, ...], got f64[6] cpu"), Error);
  CHECK_THROWS_WITH_AS(group_norm(Tensor::zeros({2, 6, 0}), 2, Tensor(), Tensor(), 1e-5),
                       doctest::Contains("group_norm: input f32[2, 6, 0] cpu is empty"), Error);
  CHECK_THROWS_AS(group_norm(Tensor(), 2, Tensor(), Tensor(), 1e-5), Error);
}
