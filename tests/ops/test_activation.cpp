#include <doctest/doctest.h>

#include <cmath>

#include "ops/activation.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {
Tensor reference(const Tensor& x, double (*f)(double)) {
  auto v = values(x);
  for (auto& e : v) e = f(e);
  return Tensor::from_vector(v, x.shape());
}
double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_silu(double x) { return x * ref_sigmoid(x); }
double ref_relu(double x) { return x > 0 ? x : 0; }
}  // namespace

TEST_CASE("activation forward matches a plain reference (f64 and f32)") {
  Tensor x = randn({2, 3, 5, 7}, 1, DType::F64, 3.0);
  CHECK_CLOSE(silu(x), reference(x, ref_silu), tol::kForwardF64);
  CHECK_CLOSE(relu(x), reference(x, ref_relu), tol::kForwardF64);
  CHECK_CLOSE(sigmoid(x), reference(x, ref_sigmoid), tol::kForwardF64);
  Tensor xf = x.to(DType::F32);
  CHECK_CLOSE(silu(xf), reference(x, ref_silu), tol::kForwardF32);
  CHECK_CLOSE(sigmoid(xf), reference(x, ref_sigmoid), tol::kForwardF32);
}

TEST_CASE("activation gradients match finite differences") {
  Tensor x = randn({3, 4, 5}, 2).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return silu(in[0]); }, {x});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, {x});
  // relu: keep inputs away from the kink at 0
  auto v = values(x);
  for (auto& e : v) e = e >= 0 ? e + 0.1 : e - 0.1;
  Tensor xr = Tensor::from_vector(v, x.shape()).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return relu(in[0]); }, {xr});
}

TEST_CASE("activation accepts non-contiguous input") {
  Tensor x = randn({4, 6}, 3).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return silu(in[0].permute({1, 0})); }, {x});
  CHECK_CLOSE(silu(x.permute({1, 0})), silu(x.permute({1, 0}).contiguous()), tol::kForwardF64);
}

TEST_CASE("activation rejects bad input with the op name") {
  CHECK_THROWS_WITH_AS(silu(Tensor::zeros({0, 3})), doctest::Contains("silu"), Error);
  CHECK_THROWS_WITH_AS(relu(Tensor::zeros({2}, DType::I64)), doctest::Contains("relu: input i64[2]"), Error);
  CHECK_THROWS_AS(sigmoid(Tensor()), Error);
}
