// se_gate: forward against a plain reference and bit for bit against the
// unfused mul(sigmoid(s), x), gradients against finite differences (f64) and
// the unfused ops, NaN propagation, non-contiguous inputs and bad input.
#include <doctest/doctest.h>

#include <cmath>

#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/se_gate.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

Tensor reference(const Tensor& x, const Tensor& s) {
  auto xv = values(x), sv = values(s);
  const size_t per = xv.size() / sv.size();
  std::vector<double> out(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) out[i] = xv[i] / (1.0 + std::exp(-sv[i / per]));
  return Tensor::from_vector(out, x.shape());
}

}  // namespace

TEST_CASE("se_gate matches a plain reference and equals mul(sigmoid(s), x) bit for bit") {
  for (DType t : {DType::F64, DType::F32}) {
    for (Shape shape : {Shape{3, 5, 4, 6}, Shape{2, 7, 9}, Shape{2, 3, 40, 50}}) {
      CAPTURE(dtype_name(t));
      CAPTURE(shape_str(shape));
      Shape s_shape{shape[0], shape[1]};
      for (size_t d = 2; d < shape.size(); ++d) s_shape.push_back(1);
      Tensor x = randn(shape, 1, t), s = randn(s_shape, 2, t, 2.0);
      Tensor out = se_gate(x, s);
      CHECK_CLOSE(out, reference(x, s), t == DType::F64 ? tol::kForwardF64 : tol::kForwardF32);
      CHECK(values(out) == values(mul(sigmoid(s), x)));
      CHECK(values(se_gate(x, s.reshape({shape[0], shape[1]}))) == values(out));  // [N, C] logits too
    }
  }
}

TEST_CASE("se_gate gradients match finite differences and the unfused ops") {
  Tensor x = randn({2, 3, 4, 5}, 3).set_requires_grad(true), s = randn({2, 3, 1, 1}, 4).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return se_gate(in[0], in[1]); }, {x, s});
  Tensor s2 = randn({2, 3}, 5).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return se_gate(in[0], in[1]); }, {x, s2});

  for (DType t : {DType::F64, DType::F32}) {
    CAPTURE(dtype_name(t));
    Tensor gy = randn({4, 6, 7, 7}, 6, t);
    std::vector<Tensor> grads[2];
    for (int fused = 0; fused < 2; ++fused) {
      Tensor xf = randn({4, 6, 7, 7}, 7, t).set_requires_grad(true), sf = randn({4, 6, 1, 1}, 8, t);
      sf.set_requires_grad(true);
      Tensor y = fused ? se_gate(xf, sf) : mul(sigmoid(sf), xf);
      y.backward(gy);
      grads[fused] = {xf.grad(), sf.grad()};
    }
    CHECK(values(grads[1][0]) == values(grads[0][0]));
    // The same products summed in the same order: equal to the bit in f32;
    // in f64 the compiler may fuse product and sum (no rounding in between).
    if (t == DType::F32) CHECK(values(grads[1][1]) == values(grads[0][1]));
    CHECK_CLOSE(grads[1][1], grads[0][1], tol::kForwardF64);
  }
}

TEST_CASE("se_gate computes only the wanted gradients") {
  Tensor x = randn({2, 3, 4}, 9), s = randn({2, 3, 1}, 10).set_requires_grad(true);
  se_gate(x, s).backward(randn({2, 3, 4}, 11));
  CHECK(s.grad().defined());
  CHECK(s.grad().shape() == Shape{2, 3, 1});
  Tensor x2 = randn({2, 3, 4}, 12).set_requires_grad(true), s2 = randn({2, 3, 1}, 13);
  se_gate(x2, s2).backward(randn({2, 3, 4}, 14));
  CHECK(x2.grad().defined());
  CHECK_FALSE(s2.grad().defined());
}

TEST_CASE("se_gate accepts non-contiguous input and logits") {
  Tensor xb = randn({4, 5, 2, 3}, 15).set_requires_grad(true), sb = randn({3, 2}, 16).set_requires_grad(true);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return se_gate(in[0].permute({2, 3, 0, 1}), in[1].permute({1, 0}));
      },
      {xb, sb});
  Tensor x = xb.permute({2, 3, 0, 1}), s = sb.permute({1, 0});
  CHECK_CLOSE(se_gate(x, s), reference(x, s), tol::kForwardF64);
}

TEST_CASE("se_gate propagates NaN from x and from the logits") {
  auto xv = values(randn({2, 2, 3}, 17));
  xv[4] = std::nan("");
  Tensor x = Tensor::from_vector(xv, {2, 2, 3});
  Tensor s = Tensor::from_vector<double>({0.5, -1.0, std::nan(""), 2.0}, {2, 2}).set_requires_grad(true);
  Tensor out = se_gate(x, s);
  auto ov = values(out);
  CHECK(std::isnan(ov[4]));
  for (int i = 6; i < 9; ++i) CHECK(std::isnan(ov[size_t(i)]));
  CHECK_FALSE(std::isnan(ov[0]));
  out.backward(randn({2, 2, 3}, 18));
  auto gs = values(s.grad());
  CHECK(std::isnan(gs[1]));  // its plane holds the NaN input
  CHECK(std::isnan(gs[2]));  // NaN logit
  CHECK_FALSE(std::isnan(gs[0]));
}

TEST_CASE("se_gate rejects bad input naming the op and the tensors") {
  Tensor x = randn({2, 3, 4, 4}, 19);
  CHECK_THROWS_WITH_AS(se_gate(x, randn({2, 4, 1, 1}, 20)),
                       doctest::Contains("se_gate: gate logits f64[2, 4, 1, 1] cpu must be [N, C] or [N, C, 1, ...] "
                                         "for input f64[2, 3, 4, 4] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(se_gate(x, randn({2, 3, 2, 1}, 21)), doctest::Contains("se_gate: gate logits f64[2, 3, 2, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(se_gate(randn({6}, 22), randn({6}, 23)),
                       doctest::Contains("se_gate: expected an input [N, C, ...], got f64[6] cpu"), Error);
  CHECK_THROWS_AS(se_gate(x, randn({2, 3}, 24, DType::F32)), Error);
  CHECK_THROWS_WITH_AS(se_gate(x, Tensor()), doctest::Contains("se_gate: gate logits"), Error);
}
