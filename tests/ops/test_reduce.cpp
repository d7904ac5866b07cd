#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "ops/reduce.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

// Row-major position of every element of `shape`.
std::vector<int64_t> unravel(size_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = int64_t(flat % size_t(shape[d]));
    flat /= size_t(shape[d]);
  }
  return idx;
}

// Sum or mean over `dims` by accumulating every element into its output slot.
Tensor ref_reduce(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool mean) {
  const Shape& s = x.shape();
  std::vector<bool> red(s.size(), false);
  for (int64_t d : dims) red[size_t(d < 0 ? d + int64_t(s.size()) : d)] = true;
  Shape keep = s, out;
  int64_t count = 1;
  for (size_t d = 0; d < s.size(); ++d) {
    if (red[d]) keep[d] = 1, count *= s[d];
    if (!red[d]) out.push_back(s[d]);
    else if (keepdim) out.push_back(1);
  }
  auto v = values(x);
  std::vector<double> acc(size_t(shape_numel(keep)), 0.0);
  for (size_t flat = 0; flat < v.size(); ++flat) {
    auto idx = unravel(flat, s);
    size_t k = 0;
    for (size_t d = 0; d < s.size(); ++d) k = k * size_t(keep[d]) + size_t(red[d] ? 0 : idx[d]);
    acc[k] += v[flat];
  }
  if (mean)
    for (auto& a : acc) a /= double(count);
  return Tensor::from_vector(acc, out);
}

std::vector<int64_t> all_of(const Tensor& x) {
  std::vector<int64_t> d;
  for (int64_t i = 0; i < x.dim(); ++i) d.push_back(i);
  return d;
}

const std::vector<std::vector<int64_t>>& dim_sets() {
  static const std::vector<std::vector<int64_t>> sets{{0},    {1},       {3},          {-1},  {0, 2},
                                                      {2, 0}, {1, 2, 3}, {0, 1, 2, 3}, {1, 3}};
  return sets;
}

}  // namespace

TEST_CASE("sum and mean match a plain reference over any dims (f64 and f32)") {
  Tensor x = randn({2, 3, 4, 5}, 1);
  Tensor xf = x.to(DType::F32);
  for (const auto& dims : dim_sets()) {
    for (bool keepdim : {false, true}) {
      CAPTURE(shape_str(dims));
      CAPTURE(keepdim);
      CHECK_CLOSE(sum(x, dims, keepdim), ref_reduce(x, dims, keepdim, false), tol::kForwardF64);
      CHECK_CLOSE(mean(x, dims, keepdim), ref_reduce(x, dims, keepdim, true), tol::kForwardF64);
      CHECK_CLOSE(sum(xf, dims, keepdim), ref_reduce(x, dims, keepdim, false), tol::kForwardF32);
      CHECK_CLOSE(mean(xf, dims, keepdim), ref_reduce(x, dims, keepdim, true), tol::kForwardF32);
    }
  }
  CHECK(sum(x).shape() == Shape{});
  CHECK_CLOSE(sum(x), ref_reduce(x, all_of(x), false, false), tol::kForwardF64);
  CHECK_CLOSE(mean(xf), ref_reduce(x, all_of(x), false, true), tol::kForwardF32);
  // 0-d input and a reduction over size-1 dims only
  Tensor s = Tensor::scalar(2.5, DType::F64);
  CHECK(sum(s).item() == 2.5);
  Tensor ones = randn({3, 1, 4}, 2);
  CHECK_CLOSE(mean(ones, {1}), ref_reduce(ones, {1}, false, true), tol::kForwardF64);
  CHECK_FALSE(sum(ones, {1}, true).storage() == ones.storage());  // a new tensor, never an alias
}

TEST_CASE("sum over long rows and large tensors stays accurate in f32") {
  // Few long rows take the chunked path; many columns the blocked one.
  for (Shape shape : {Shape{2, 70001}, Shape{300, 401}, Shape{3, 1000, 70}}) {
    CAPTURE(shape_str(shape));
    Tensor x = randn(shape, 3);
    Tensor xf = x.to(DType::F32);
    // compare with the reference of the f32-rounded values: only summation differs
    Tensor xr = xf.to(DType::F64);
    CHECK_CLOSE(sum(xf), ref_reduce(xr, all_of(x), false, false), tol::kForwardF32);
    CHECK_CLOSE(sum(xf, {-1}), ref_reduce(xr, {-1}, false, false), tol::kForwardF32);
    CHECK_CLOSE(mean(xf, {0}), ref_reduce(xr, {0}, false, true), tol::kForwardF32);
  }
}

TEST_CASE("sum and mean gradients match finite differences") {
  Tensor x = randn({2, 3, 4, 2}, 4).set_requires_grad(true);
  for (const auto& dims : dim_sets()) {
    for (bool keepdim : {false, true}) {
      CAPTURE(shape_str(dims));
      CAPTURE(keepdim);
      CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return sum(in[0], dims, keepdim); }, {x});
      CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return mean(in[0], dims, keepdim); }, {x});
    }
  }
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return sum(in[0]); }, {x});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return mean(in[0]); }, {x});
  // non-contiguous input
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return mean(in[0].permute({3, 1, 0, 2}), {1, 3}); }, {x});
  Tensor p = x.permute({3, 1, 0, 2});
  REQUIRE_FALSE(p.is_contiguous());
  CHECK_CLOSE(sum(p, {0, 2}, true), ref_reduce(p, {0, 2}, true, false), tol::kForwardF64);
}

TEST_CASE("argmax returns the first maximum as i64") {
  Tensor x = randn({3, 4, 5}, 5);
  for (int64_t dim : {0, 1, 2, -1}) {
    CAPTURE(dim);
    Tensor a = argmax(x, dim);
    CHECK(a.dtype() == DType::I64);
    const int d = int(dim < 0 ? dim + 3 : dim);
    Shape out;
    for (int k = 0; k < 3; ++k)
      if (k != d) out.push_back(x.shape()[size_t(k)]);
    REQUIRE(a.shape() == out);
    auto v = values(x);
    auto got = a.to_vector<int64_t>();
    for (size_t flat = 0; flat < got.size(); ++flat) {
      auto idx = unravel(flat, out);
      idx.insert(idx.begin() + d, 0);
      int64_t best = 0;
      double bv = -INFINITY;
      for (int64_t k = 0; k < x.shape()[size_t(d)]; ++k) {
        idx[size_t(d)] = k;
        double e = v[size_t((idx[0] * 4 + idx[1]) * 5 + idx[2])];
        if (e > bv) bv = e, best = k;
      }
      CHECK(got[flat] == best);
    }
  }
  // ties pick the first index; a NaN counts as the maximum (PyTorch)
  Tensor t = Tensor::from_vector<double>({1, 3, 3, 0, 2, 2, 2, 2, 5, std::nan(""), 7, std::nan("")}, {3, 4});
  CHECK(argmax(t, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0, 1});
  CHECK(argmax(t.to(DType::F32), 0).to_vector<int64_t>() == std::vector<int64_t>{2, 2, 2, 2});
  CHECK_FALSE(argmax(randn({4, 3}, 6).set_requires_grad(true), 1).requires_grad());
  // non-contiguous input
  Tensor p = x.permute({2, 0, 1});
  CHECK(argmax(p, 2).to_vector<int64_t>() == argmax(p.contiguous(), 2).to_vector<int64_t>());
}

TEST_CASE("reductions reject bad dims and inputs with the op name") {
  Tensor x = randn({2, 3}, 7);
  CHECK_THROWS_WITH_AS(sum(x, {2}), doctest::Contains("sum: dim 2 out of range for f64[2, 3] cpu"), Error);
  CHECK_THROWS_WITH_AS(mean(x, {-3}), doctest::Contains("mean: dim -3 out of range"), Error);
  CHECK_THROWS_WITH_AS(sum(x, {1, -1}), doctest::Contains("sum: dim -1 given twice"), Error);
  CHECK_THROWS_WITH_AS(sum(x, {}), doctest::Contains("sum: empty dims list"), Error);
  CHECK_THROWS_WITH_AS(argmax(x, 5), doctest::Contains("argmax: dim 5 out of range for f64[2, 3] cpu"), Error);
  CHECK_THROWS_WITH_AS(sum(Tensor::zeros({0, 3})), doctest::Contains("sum: input f32[0, 3] cpu is empty"), Error);
  CHECK_THROWS_WITH_AS(mean(Tensor::zeros({2}, DType::I64)), doctest::Contains("mean: input i64[2]"), Error);
  CHECK_THROWS_WITH_AS(argmax(Tensor::zeros({0}), 0), doctest::Contains("argmax"), Error);
  CHECK_THROWS_AS(sum(Tensor(), {0}), Error);
}
