#include <doctest/doctest.h>

#include <cmath>

#include "ops/softmax.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

// softmax / log_softmax along dim in double, with the max subtracted.
Tensor ref_softmax(const Tensor& x, int64_t dim, bool log) {
  const Shape& s = x.shape();
  const size_t d = size_t(dim < 0 ? dim + int64_t(s.size()) : dim);
  int64_t outer = 1, n = s[d], inner = 1;
  for (size_t k = 0; k < d; ++k) outer *= s[k];
  for (size_t k = d + 1; k < s.size(); ++k) inner *= s[k];
  auto v = values(x);
  std::vector<double> r(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return size_t((o * n + k) * inner + i); };
      double mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, v[at(k)]);
      for (int64_t k = 0; k < n; ++k) sum += std::exp(v[at(k)] - mx);
      for (int64_t k = 0; k < n; ++k) r[at(k)] = log ? v[at(k)] - mx - std::log(sum) : std::exp(v[at(k)] - mx) / sum;
    }
  return Tensor::from_vector(r, s);
}

}  // namespace

TEST_CASE("softmax and log_softmax match a plain reference along every dim (f64 and f32)") {
  // [2, 3, 300] along dim 1 spans two blocks of inner positions
  for (Shape shape : {Shape{2, 3, 4, 5}, Shape{2, 3, 300}, Shape{7}}) {
    Tensor x = randn(shape, 1, DType::F64, 4.0);
    for (int64_t dim = -1; dim < int64_t(shape.size()); ++dim) {
      CAPTURE(shape_str(shape));
      CAPTURE(dim);
      for (bool log : {false, true}) {
        Tensor ref = ref_softmax(x, dim, log);
        auto op = log ? log_softmax : softmax;
        CHECK_CLOSE(op(x, dim), ref, tol::kForwardF64);
        CHECK_CLOSE(op(x.to(DType::F32), dim), ref, tol::kForwardF32);
      }
    }
  }
}

TEST_CASE("softmax is stable for huge logits") {
  Tensor x = Tensor::from_vector<double>({1000, 999, -1000, 5e4, 5e4, 0}, {2, 3});
  Tensor xf = x.to(DType::F32);
  CHECK_CLOSE(softmax(xf, 1), ref_softmax(x, 1, false), tol::kForwardF32);
  CHECK_CLOSE(log_softmax(xf, 1), ref_softmax(x, 1, true), tol::kForwardF32);
  CHECK_CLOSE(log_softmax(x, 0), ref_softmax(x, 0, true), tol::kForwardF64);
}

TEST_CASE("softmax and log_softmax gradients match finite differences") {
  Tensor x = randn({2, 3, 4, 2}, 2, DType::F64, 2.0).set_requires_grad(true);
  for (int64_t dim : {0, 1, 2, 3, -1}) {
    CAPTURE(dim);
    CHECK_GRADCHECK([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); }, {x});
    CHECK_GRADCHECK([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); }, {x});
  }
  // non-contiguous input
  Tensor p = x.permute({2, 0, 3, 1});
  REQUIRE_FALSE(p.is_contiguous());
  CHECK_CLOSE(log_softmax(p, 1), ref_softmax(p, 1, true), tol::kForwardF64);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return softmax(in[0].permute({2, 0, 3, 1}), 1); }, {x});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return log_softmax(in[0].permute({2, 0, 3, 1}), -1); }, {x});
}

TEST_CASE("softmax rejects bad dims and inputs with the op name") {
  Tensor x = randn({2, 3}, 3);
  CHECK_THROWS_WITH_AS(softmax(x, 2), doctest::Contains("softmax: dim 2 out of range for f64[2, 3] cpu"), Error);
  CHECK_THROWS_WITH_AS(log_softmax(x, -3), doctest::Contains("log_softmax: dim -3 out of range"), Error);
  CHECK_THROWS_WITH_AS(softmax(Tensor::zeros({2, 0}), 1), doctest::Contains("softmax: input f32[2, 0] cpu is empty"),
                       Error);
  CHECK_THROWS_WITH_AS(log_softmax(Tensor::zeros({2}, DType::I64), 0), doctest::Contains("log_softmax: input i64[2]"),
                       Error);
  CHECK_THROWS_WITH_AS(softmax(Tensor::scalar(1.0), 0), doctest::Contains("softmax: dim 0 out of range"), Error);
  CHECK_THROWS_AS(softmax(Tensor(), 0), Error);
}
