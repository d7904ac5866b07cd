// drop_connect_add: forward against a plain reference and against the unfused
// add(mul(x, mask), residual), the mask drawn as drop_connect
// draws it, gradients against finite differences (f64) and the unfused ops,
// NaN propagation, non-contiguous inputs and bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "ops/binary.h"
#include "ops/drop_connect_add.h"
#include "ops/dropout.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

// [N] mask of 0 and 1/(1-p), with both values present.
Tensor sample_mask(int64_t n, double p, DType t = DType::F64) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i % 3 == 1 ? 0.0 : 1.0 / (1.0 - p);
  return Tensor::from_vector(v, {n}).to(t);
}

Tensor reference(const Tensor& x, const Tensor& mask, const Tensor& r) {
  auto xv = values(x), mv = values(mask), rv = values(r);
  const size_t per = xv.size() / mv.size();
  std::vector<double> out(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) out[i] = xv[i] * mv[i / per] + rv[i];
  return Tensor::from_vector(out, x.shape());
}

Shape broadcast_shape(const Tensor& x) {
  Shape s(size_t(x.dim()), 1);
  s[0] = x.size(0);
  return s;
}

}  // namespace

TEST_CASE("drop_connect_add matches a plain reference and add(mul(x, mask), residual)") {
  for (DType t : {DType::F64, DType::F32}) {
    for (Shape shape : {Shape{5, 3, 4, 6}, Shape{4, 7}, Shape{3, 2, 40, 50}}) {
      CAPTURE(dtype_name(t));
      CAPTURE(shape_str(shape));
      Tensor x = randn(shape, 1, t), r = randn(shape, 2, t), m = sample_mask(shape[0], 0.2, t);
      Tensor out = drop_connect_add(x, m, r);
      const Tolerance tl = t == DType::F64 ? tol::kForwardF64 : tol::kForwardF32;
      CHECK_CLOSE(out, reference(x, m, r), tl);
      // The CPU kernel rounds the product before the add, as the unfused ops.
      Tensor m4 = m.reshape(broadcast_shape(x));
      CHECK(values(out) == values(add(mul(x, m4), r)));
      CHECK(values(drop_connect_add(x, m4, r)) == values(out));  // [N, 1, ...] masks too
    }
  }
}

TEST_CASE("drop_connect_mask is the mask drop_connect multiplies by, and advances the generator the same") {
  Tensor x = randn({64, 3, 2, 2}, 3);
  Generator a(77, 5), b(77, 5);
  Tensor mask = drop_connect_mask(x, 0.3, true, a);
  CHECK(mask.shape() == Shape{64, 1, 1, 1});
  CHECK(values(mul(x, mask)) == values(drop_connect(x, 0.3, true, b)));
  CHECK(a.offset == b.offset);
  auto mv = values(mask);
  CHECK(std::count(mv.begin(), mv.end(), 0.0) > 0);  // some samples dropped, some kept
  CHECK(std::count(mv.begin(), mv.end(), 1.0 / 0.7) > 0);
  CHECK_FALSE(drop_connect_mask(x, 0.3, false, a).defined());
  CHECK_FALSE(drop_connect_mask(x, 0.0, true, a).defined());
  CHECK(a.offset == b.offset);  // nothing drawn
}

TEST_CASE("drop_connect_add gradients match finite differences and the unfused ops") {
  Tensor x = randn({4, 3, 2, 5}, 4).set_requires_grad(true), r = randn({4, 3, 2, 5}, 5).set_requires_grad(true);
  Tensor m = sample_mask(4, 0.25);
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return drop_connect_add(in[0], m, in[1]); }, {x, r});

  for (DType t : {DType::F64, DType::F32}) {
    CAPTURE(dtype_name(t));
    Tensor gy = randn({6, 4, 3, 3}, 6, t), mt = sample_mask(6, 0.5, t);
    std::vector<Tensor> grads[2];
    for (int fused = 0; fused < 2; ++fused) {
      Tensor xf = randn({6, 4, 3, 3}, 7, t).set_requires_grad(true), rf = randn({6, 4, 3, 3}, 8, t);
      rf.set_requires_grad(true);
      Tensor y = fused ? drop_connect_add(xf, mt, rf) : add(mul(xf, mt.reshape({6, 1, 1, 1})), rf);
      y.backward(gy);
      grads[fused] = {xf.grad(), rf.grad()};
    }
    CHECK(values(grads[1][0]) == values(grads[0][0]));
    CHECK(values(grads[1][1]) == values(gy));  // the residual's gradient is the upstream one
  }
}

TEST_CASE("drop_connect_add computes only the wanted gradients and never one for the mask") {
  Tensor x = randn({3, 4}, 9), r = randn({3, 4}, 10).set_requires_grad(true);
  Tensor m = sample_mask(3, 0.1).set_requires_grad(true);
  Tensor y = drop_connect_add(x, m, r);
  y.backward(randn({3, 4}, 11));
  CHECK(r.grad().defined());
  CHECK_FALSE(m.grad().defined());
  CHECK_FALSE(drop_connect_add(randn({3, 4}, 12), m, randn({3, 4}, 13)).requires_grad());
}

TEST_CASE("drop_connect_add accepts non-contiguous inputs") {
  Tensor xb = randn({3, 5, 4}, 14).set_requires_grad(true), rb = randn({3, 5, 4}, 15).set_requires_grad(true);
  Tensor m = sample_mask(4, 0.4);
  Tensor x = xb.permute({2, 1, 0}), r = rb.permute({2, 1, 0});  // [4, 5, 3], strided
  CHECK_CLOSE(drop_connect_add(x, m, r), reference(x, m, r), tol::kForwardF64);
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return drop_connect_add(in[0].permute({2, 1, 0}), m, in[1].permute({2, 1, 0}));
      },
      {xb, rb});
}

TEST_CASE("drop_connect_add propagates NaN from x (kept or dropped sample), mask and residual") {
  auto xv = values(randn({3, 4}, 16));
  xv[1] = std::nan("");      // sample 0: kept
  xv[4 + 2] = std::nan("");  // sample 1: dropped, NaN * 0 is NaN (as mul)
  auto rv = values(randn({3, 4}, 17));
  rv[8 + 3] = std::nan("");
  Tensor x = Tensor::from_vector(xv, {3, 4}).set_requires_grad(true);
  Tensor out = drop_connect_add(x, sample_mask(3, 0.5), Tensor::from_vector(rv, {3, 4}));
  auto ov = values(out);
  CHECK(std::isnan(ov[1]));
  CHECK(std::isnan(ov[6]));
  CHECK(std::isnan(ov[11]));
  CHECK_FALSE(std::isnan(ov[0]));
  Tensor m = Tensor::from_vector<double>({1.0, std::nan(""), 2.0}, {3});
  auto ov2 = values(drop_connect_add(randn({3, 4}, 18), m, randn({3, 4}, 19)));
  for (int i = 4; i < 8; ++i) CHECK(std::isnan(ov2[size_t(i)]));
  // The gradient through a NaN mask value is NaN too.
  Tensor x2 = randn({3, 4}, 20).set_requires_grad(true);
  drop_connect_add(x2, m, randn({3, 4}, 21)).backward(randn({3, 4}, 22));
  CHECK(std::isnan(values(x2.grad())[5]));
}

TEST_CASE("drop_connect_add rejects bad input naming the op and the tensors") {
  Tensor x = randn({2, 3, 4}, 23), m = sample_mask(2, 0.5);
  CHECK_THROWS_WITH_AS(drop_connect_add(x, m, randn({2, 3, 5}, 24)),
                       doctest::Contains("drop_connect_add: input f64[2, 3, 4] cpu and residual f64[2, 3, 5] cpu must "
                                         "have the same shape"),
                       Error);
  CHECK_THROWS_WITH_AS(drop_connect_add(x, sample_mask(3, 0.5), randn({2, 3, 4}, 25)),
                       doctest::Contains("drop_connect_add: mask f64[3] cpu must hold one value per sample of input "
                                         "f64[2, 3, 4] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(drop_connect_add(x, randn({1, 2}, 26), randn({2, 3, 4}, 27)),
                       doctest::Contains("drop_connect_add: mask f64[1, 2] cpu"), Error);
  CHECK_THROWS_AS(drop_connect_add(x, m.to(DType::F32), randn({2, 3, 4}, 28)), Error);
  CHECK_THROWS_AS(drop_connect_add(x, m, randn({2, 3, 4}, 29, DType::F32)), Error);
  CHECK_THROWS_WITH_AS(drop_connect_add(Tensor(), m, x), doctest::Contains("drop_connect_add: input"), Error);
}
