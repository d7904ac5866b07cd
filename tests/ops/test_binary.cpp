#include <doctest/doctest.h>

#include <algorithm>
#include <functional>

#include "ops/binary.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

using Fn2 = std::function<double(double, double)>;

// out = f(a, b) with NumPy broadcasting, by explicit index arithmetic in double.
Tensor ref_broadcast(const Tensor& a, const Tensor& b, const Fn2& f) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const size_t nd = std::max(sa.size(), sb.size());
  Shape pa(nd, 1), pb(nd, 1), out(nd);
  for (size_t i = 0; i < sa.size(); ++i) pa[nd - sa.size() + i] = sa[i];
  for (size_t i = 0; i < sb.size(); ++i) pb[nd - sb.size() + i] = sb[i];
  for (size_t d = 0; d < nd; ++d) out[d] = std::max(pa[d], pb[d]);
  auto va = values(a), vb = values(b);
  std::vector<double> r(size_t(shape_numel(out)));
  for (size_t flat = 0; flat < r.size(); ++flat) {
    size_t rem = flat, ia = 0, ib = 0, stride_a = 1, stride_b = 1;
    for (size_t d = nd; d-- > 0;) {
      size_t idx = rem % size_t(out[d]);
      rem /= size_t(out[d]);
      ia += (pa[d] == 1 ? 0 : idx) * stride_a;
      ib += (pb[d] == 1 ? 0 : idx) * stride_b;
      stride_a *= size_t(pa[d]);
      stride_b *= size_t(pb[d]);
    }
    r[flat] = f(va[ia], vb[ib]);
  }
  return Tensor::from_vector(r, out);
}

struct OpCase {
  const char* name;
  Tensor (*op)(const Tensor&, const Tensor&);
  Fn2 ref;
};

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases{
      {"add", add, [](double x, double y) { return x + y; }},
      {"sub", sub, [](double x, double y) { return x - y; }},
      {"mul", mul, [](double x, double y) { return x * y; }},
      {"div", div, [](double x, double y) { return x / y; }},
  };
  return cases;
}

// Shape pairs covering every kernel path: same shape, the squeeze-excitation
// gate, outer/inner broadcasts, scalar-shaped operands and the general case.
const std::vector<std::pair<Shape, Shape>>& shape_pairs() {
  static const std::vector<std::pair<Shape, Shape>> pairs{
      {{2, 3, 4, 5}, {2, 3, 4, 5}},
      {{2, 3, 4, 5}, {2, 3, 1, 1}},
      {{2, 3, 1, 1}, {2, 3, 4, 5}},
      {{2, 3, 4, 5}, {1, 3, 1, 1}},
      {{3, 1}, {1, 4}},
      {{4}, {2, 3, 4}},
      {{2, 3}, {}},
      {{}, {2, 3}},
      {{2, 1, 4}, {1, 3, 1}},
      {{}, {}},
      {{5, 1}, {5, 1}},
  };
  return pairs;
}

// Divisors bounded away from zero, with both signs.
Tensor divisor(const Shape& s, uint64_t seed) {
  auto v = values(rand_uniform(s, 0.5, 2.0, seed));
  for (size_t i = 0; i < v.size(); ++i)
    if (i % 2) v[i] = -v[i];
  return Tensor::from_vector(v, s);
}

}  // namespace

TEST_CASE("binary ops match a plain broadcasting reference (f64 and f32)") {
  uint64_t seed = 10;
  for (const auto& c : op_cases()) {
    for (const auto& [sa, sb] : shape_pairs()) {
      CAPTURE(c.name);
      CAPTURE(shape_str(sa));
      CAPTURE(shape_str(sb));
      Tensor a = randn(sa, seed++);
      Tensor b = divisor(sb, seed++);
      Tensor ref = ref_broadcast(a, b, c.ref);
      CHECK_CLOSE(c.op(a, b), ref, tol::kForwardF64);
      CHECK_CLOSE(c.op(a.to(DType::F32), b.to(DType::F32)), ref, tol::kForwardF32);
    }
  }
}

TEST_CASE("binary op gradients match finite differences, including broadcast shapes") {
  uint64_t seed = 100;
  for (const auto& c : op_cases()) {
    for (const auto& [sa, sb] : shape_pairs()) {
      CAPTURE(c.name);
      CAPTURE(shape_str(sa));
      CAPTURE(shape_str(sb));
      Tensor a = randn(sa, seed++).set_requires_grad(true);
      Tensor b = divisor(sb, seed++).set_requires_grad(true);
      auto op = c.op;
      CHECK_GRADCHECK([op](const std::vector<Tensor>& in) { return op(in[0], in[1]); }, {a, b});
    }
  }
}

TEST_CASE("binary ops accept non-contiguous inputs") {
  Tensor a = randn({5, 4, 3, 2}, 20).set_requires_grad(true);
  Tensor b = divisor({2, 3, 8, 5}, 21).set_requires_grad(true);
  Tensor g = divisor({4, 3}, 22).set_requires_grad(true);
  for (const auto& c : op_cases()) {
    CAPTURE(c.name);
    auto op = c.op;
    // permuted [2, 3, 4, 5] with a strided slice of the same shape
    Tensor x = a.permute({3, 2, 1, 0}), y = b.slice(2, 1, 8, 2);
    REQUIRE_FALSE(x.is_contiguous());
    REQUIRE_FALSE(y.is_contiguous());
    CHECK_CLOSE(op(x, y), ref_broadcast(x, y, c.ref), tol::kForwardF64);
    CHECK_GRADCHECK(
        [op](const std::vector<Tensor>& in) {
          return op(in[0].permute({3, 2, 1, 0}), in[1].slice(2, 1, 8, 2));
        },
        {a, b});
    // a transposed gate [3, 4] -> [1, 3, 4, 1] against the permuted tensor
    Tensor gate = g.permute({1, 0}).unsqueeze(0).unsqueeze(3);
    CHECK_CLOSE(op(x, gate), ref_broadcast(x, gate, c.ref), tol::kForwardF64);
    CHECK_GRADCHECK(
        [op](const std::vector<Tensor>& in) {
          return op(in[0].permute({3, 2, 1, 0}), in[1].permute({1, 0}).unsqueeze(0).unsqueeze(3));
        },
        {a, g});
  }
}

TEST_CASE("binary ops give gradients only to inputs that require them") {
  Tensor a = randn({2, 3, 4, 4}, 30).set_requires_grad(true);
  Tensor gate = randn({2, 3, 1, 1}, 31);  // a constant
  Tensor y = mul(a, gate);
  y.backward(Tensor::full(y.shape(), 1.0, DType::F64));
  CHECK_FALSE(gate.grad().defined());
  // d/da sum(a * gate) = gate broadcast
  CHECK_CLOSE(a.grad(),
              ref_broadcast(Tensor::full(a.shape(), 1.0, DType::F64), gate, [](double, double g) { return g; }),
              tol::kForwardF64);
  CHECK_FALSE(add(gate, gate).requires_grad());
}

TEST_CASE("scalar binary variants and operators") {
  Tensor a = randn({3, 4}, 40).set_requires_grad(true);
  auto ref = [&](const std::function<double(double)>& f) {
    auto v = values(a);
    for (auto& e : v) e = f(e);
    return Tensor::from_vector(v, a.shape());
  };
  CHECK_CLOSE(add_scalar(a, 2.5), ref([](double x) { return x + 2.5; }), tol::kForwardF64);
  CHECK_CLOSE(mul_scalar(a, -1.5), ref([](double x) { return x * -1.5; }), tol::kForwardF64);
  CHECK_CLOSE(neg(a), ref([](double x) { return -x; }), tol::kForwardF64);
  CHECK_CLOSE(a - 1.0, ref([](double x) { return x - 1.0; }), tol::kForwardF64);
  CHECK_CLOSE(3.0 * a, ref([](double x) { return 3.0 * x; }), tol::kForwardF64);
  CHECK_CLOSE(mul_scalar(a.to(DType::F32), 0.3), ref([](double x) { return x * 0.3; }), tol::kForwardF32);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return add_scalar(in[0], 2.5); }, {a});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return mul_scalar(in[0].permute({1, 0}), -1.5); }, {a});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return -in[0]; }, {a});
  Tensor b = divisor({4}, 41).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return (in[0] + in[1]) * in[0] / in[1] - in[1]; }, {a, b});
}

TEST_CASE("binary ops reject bad operands with the op name and shapes") {
  Tensor a = randn({2, 3}, 50);
  CHECK_THROWS_WITH_AS(add(a, randn({4}, 51)),
                       doctest::Contains("add: f64[2, 3] cpu and f64[4] cpu cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(mul(a, randn({2, 3}, 52, DType::F32)), doctest::Contains("mul: f64[2, 3] cpu and f32[2, 3] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(sub(a, Tensor::zeros({0, 3}, DType::F64)), doctest::Contains("sub: second operand f64[0, 3]"),
                       Error);
  CHECK_THROWS_WITH_AS(div(Tensor(), a), doctest::Contains("div: first operand is an undefined tensor"), Error);
  CHECK_THROWS_WITH_AS(add(Tensor::zeros({2, 3}, DType::I64), Tensor::zeros({2, 3}, DType::I64)),
                       doctest::Contains("add: first operand i64[2, 3]"), Error);
  CHECK_THROWS_WITH_AS(add_scalar(Tensor::zeros({0}), 1.0), doctest::Contains("add_scalar"), Error);
  CHECK_THROWS_WITH_AS(neg(Tensor::zeros({2}, DType::I64)), doctest::Contains("neg: input i64[2]"), Error);
}
