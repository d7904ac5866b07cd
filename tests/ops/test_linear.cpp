#include <doctest/doctest.h>

#include <vector>

#include "ops/linear.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

Tensor ref_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  auto xv = values(x), wv = values(w);
  std::vector<double> bv = b.defined() ? values(b) : std::vector<double>(size_t(out), 0.0);
  std::vector<double> y(size_t(n * out));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double acc = bv[o];
      for (int64_t k = 0; k < in; ++k) acc += xv[i * in + k] * wv[o * in + k];
      y[i * out + o] = acc;
    }
  return Tensor::from_vector(y, {n, out});
}

}  // namespace

TEST_CASE("linear forward matches a naive reference (f64 and f32)") {
  Tensor x = randn({5, 37}, 1), w = randn({11, 37}, 2), b = randn({11}, 3);
  for (bool with_bias : {true, false}) {
    Tensor bias = with_bias ? b : Tensor();
    Tensor expected = ref_linear(x, w, bias);
    CHECK_CLOSE(linear(x, w, bias), expected, tol::kForwardF64);
    Tensor yf = linear(x.to(DType::F32), w.to(DType::F32), with_bias ? b.to(DType::F32) : Tensor());
    CHECK(yf.dtype() == DType::F32);
    CHECK_CLOSE(yf, expected, tol::kForwardF32);
  }
}

TEST_CASE("linear gradients match finite differences") {
  Tensor x = randn({4, 7}, 4).set_requires_grad(true);
  Tensor w = randn({3, 7}, 5).set_requires_grad(true);
  Tensor b = randn({3}, 6).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); }, {x, w, b});
  CHECK_GRADCHECK([](const std::vector<Tensor>& t) { return linear(t[0], t[1], Tensor()); }, {x, w});
}

TEST_CASE("linear f32 backward matches f64 and computes only needed gradients") {
  Tensor x = randn({6, 40}, 7), w = randn({9, 40}, 8), b = randn({9}, 9), gy = randn({6, 9}, 10);
  Tensor x64 = x.clone().set_requires_grad(true), w64 = w.clone().set_requires_grad(true),
         b64 = b.clone().set_requires_grad(true);
  linear(x64, w64, b64).backward(gy);
  Tensor xf = x.to(DType::F32).set_requires_grad(true), wf = w.to(DType::F32).set_requires_grad(true),
         bf = b.to(DType::F32).set_requires_grad(true);
  linear(xf, wf, bf).backward(gy.to(DType::F32));
  CHECK_CLOSE(xf.grad(), x64.grad(), tol::kForwardF32);
  CHECK_CLOSE(wf.grad(), w64.grad(), tol::kGradReductionF32);
  CHECK_CLOSE(bf.grad(), b64.grad(), tol::kGradReductionF32);

  Tensor x_only = x.clone().set_requires_grad(true);
  linear(x_only, w, b).backward(gy);
  CHECK_CLOSE(x_only.grad(), x64.grad(), tol::kForwardF64);
  CHECK(!w.grad().defined());
}

TEST_CASE("linear accepts non-contiguous input and weight") {
  Tensor xt = randn({7, 4}, 11).set_requires_grad(true);  // x = xt^T is [4, 7]
  Tensor ws = randn({6, 7}, 12).set_requires_grad(true);  // every other row: [3, 7]
  Tensor b = randn({3}, 13).set_requires_grad(true);
  auto fn = [](const std::vector<Tensor>& t) { return linear(t[0].permute({1, 0}), t[1].slice(0, 0, 6, 2), t[2]); };
  REQUIRE(!xt.permute({1, 0}).is_contiguous());
  CHECK_CLOSE(fn({xt, ws, b}), ref_linear(xt.permute({1, 0}), ws.slice(0, 0, 6, 2), b), tol::kForwardF64);
  CHECK_GRADCHECK(fn, {xt, ws, b});
}

TEST_CASE("linear rejects bad input with the op name") {
  Tensor x = randn({4, 7}, 1, DType::F32), w = randn({3, 7}, 2, DType::F32);
  CHECK_THROWS_WITH_AS(linear(x, randn({3, 6}, 3, DType::F32), Tensor()),
                       doctest::Contains("linear: weight f32[3, 6] cpu must be [out, 7] for input f32[4, 7] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(x.unsqueeze(0), w, Tensor()), doctest::Contains("linear: input f32[1, 4, 7]"), Error);
  CHECK_THROWS_WITH_AS(linear(x, w.to(DType::F64), Tensor()), doctest::Contains("linear"), Error);
  CHECK_THROWS_WITH_AS(linear(x, w, randn({4}, 4, DType::F32)), doctest::Contains("linear: bias f32[4] cpu"), Error);
  CHECK_THROWS_WITH_AS(linear(Tensor::zeros({0, 7}), w, Tensor()), doctest::Contains("linear: input f32[0, 7]"), Error);
  CHECK_THROWS_WITH_AS(linear(x.to(DType::I64), w, Tensor()), doctest::Contains("linear: input i64"), Error);
  CHECK_THROWS_AS(linear(x, Tensor(), Tensor()), Error);
}
