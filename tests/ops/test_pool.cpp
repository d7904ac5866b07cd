#include <doctest/doctest.h>

#include "ops/pool.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {
Tensor ref_global_avg_pool(const Tensor& x) {
  const int64_t planes = x.size(0) * x.size(1), hw = x.size(2) * x.size(3);
  auto v = values(x);
  std::vector<double> out(size_t(planes), 0.0);
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < hw; ++i) out[size_t(p)] += v[size_t(p * hw + i)];
    out[size_t(p)] /= double(hw);
  }
  return Tensor::from_vector(out, {x.size(0), x.size(1), 1, 1});
}
}  // namespace

TEST_CASE("global_avg_pool2d matches a plain reference (f64 and f32)") {
  Tensor x = randn({2, 448, 8, 8}, 1, DType::F64, 2.0);
  CHECK_CLOSE(global_avg_pool2d(x), ref_global_avg_pool(x), tol::kForwardF64);
  CHECK_CLOSE(global_avg_pool2d(x.to(DType::F32)), ref_global_avg_pool(x), tol::kForwardF32);
  Tensor odd = randn({3, 2, 5, 7}, 2);
  CHECK_CLOSE(global_avg_pool2d(odd), ref_global_avg_pool(odd), tol::kForwardF64);
}

TEST_CASE("global_avg_pool2d gradient matches finite differences") {
  Tensor x = randn({2, 3, 4, 5}, 3).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return global_avg_pool2d(in[0]); }, {x});
}

TEST_CASE("global_avg_pool2d accepts non-contiguous input") {
  Tensor base = randn({4, 5, 2, 3}, 4).set_requires_grad(true);
  Tensor x = base.permute({2, 3, 0, 1});
  CHECK_CLOSE(global_avg_pool2d(x), ref_global_avg_pool(x), tol::kForwardF64);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return global_avg_pool2d(in[0].permute({2, 3, 0, 1})); }, {base});
}

TEST_CASE("global_avg_pool2d rejects bad input with the op name and shape") {
  CHECK_THROWS_WITH_AS(global_avg_pool2d(randn({2, 3, 4}, 5)),
                       doctest::Contains("global_avg_pool2d: expected an NCHW input, got f64[2, 3, 4] cpu"), Error);
  CHECK_THROWS_WITH_AS(global_avg_pool2d(Tensor::zeros({2, 3, 0, 4})),
                       doctest::Contains("global_avg_pool2d: input f32[2, 3, 0, 4] cpu is empty"), Error);
  CHECK_THROWS_WITH_AS(global_avg_pool2d(Tensor::zeros({1, 1, 2, 2}, DType::I32)),
                       doctest::Contains("global_avg_pool2d: input i32[1, 1, 2, 2] cpu"), Error);
  CHECK_THROWS_AS(global_avg_pool2d(Tensor()), Error);
}
