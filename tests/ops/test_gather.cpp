#include <doctest/doctest.h>

#include "ops/gather.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

Tensor ref_gather_cells(const Tensor& x, const std::vector<int64_t>& rows, const std::vector<int64_t>& cols) {
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  auto v = values(x);
  std::vector<double> out;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) out.push_back(v[size_t(((b * C + c) * H + rows[size_t(b)]) * W + cols[size_t(b)])]);
  return Tensor::from_vector(out, {B, C});
}

// Concatenation along dim of [outer, n_k, inner] blocks, element by element.
Tensor ref_concat(const std::vector<Tensor>& xs, int64_t dim) {
  Shape shape = xs[0].shape();
  const size_t d = size_t(dim < 0 ? dim + int64_t(shape.size()) : dim);
  int64_t outer = 1, inner = 1, total = 0;
  for (size_t k = 0; k < d; ++k) outer *= shape[k];
  for (size_t k = d + 1; k < shape.size(); ++k) inner *= shape[k];
  for (const Tensor& t : xs) total += t.shape()[d];
  shape[d] = total;
  std::vector<double> out;
  for (int64_t o = 0; o < outer; ++o)
    for (const Tensor& t : xs) {
      auto v = values(t);
      const int64_t n = t.shape()[d];
      for (int64_t j = 0; j < n * inner; ++j) out.push_back(v[size_t(o * n * inner + j)]);
    }
  return Tensor::from_vector(out, shape);
}

}  // namespace

TEST_CASE("gather_cells picks each sample's cell (f64, f32, non-contiguous)") {
  Tensor x = randn({3, 4, 5, 6}, 1);
  std::vector<int64_t> rows{4, 0, 2}, cols{0, 5, 3};
  Tensor r = Tensor::from_vector(rows, {3}), c = Tensor::from_vector(cols, {3});
  Tensor ref = ref_gather_cells(x, rows, cols);
  CHECK(gather_cells(x, r, c).shape() == Shape{3, 4});
  CHECK_CLOSE(gather_cells(x, r, c), ref, tol::kForwardF64);
  CHECK_CLOSE(gather_cells(x.to(DType::F32), r, c), ref, tol::kForwardF32);
  // a channels-last view with the same logical content
  Tensor nhwc = x.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
  REQUIRE_FALSE(nhwc.is_contiguous());
  CHECK_CLOSE(gather_cells(nhwc, r, c), ref, tol::kForwardF64);
}

TEST_CASE("gather_cells gradient scatters into that cell only") {
  Tensor x = randn({3, 2, 4, 3}, 2).set_requires_grad(true);
  // two samples share a cell position: their planes differ, so nothing collides
  Tensor r = Tensor::from_vector<int64_t>({1, 1, 3}, {3}), c = Tensor::from_vector<int64_t>({2, 2, 0}, {3});
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return gather_cells(in[0], r, c); }, {x});
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return gather_cells(in[0].permute({0, 1, 3, 2}).contiguous().permute({0, 1, 3, 2}), r, c);
      },
      {x});
  x.reset_grad();
  Tensor y = gather_cells(x, r, c);
  y.backward(Tensor::full({3, 2}, 1.0, DType::F64));
  auto g = values(x.grad());
  double total = 0;
  for (double e : g) total += e;
  CHECK(total == 6.0);
  CHECK(g[size_t(((0 * 2 + 1) * 4 + 1) * 3 + 2)] == 1.0);  // sample 0, channel 1, cell (1, 2)
  CHECK(g[size_t(((2 * 2 + 0) * 4 + 3) * 3 + 0)] == 1.0);  // sample 2, channel 0, cell (3, 0)
}

TEST_CASE("gather_cells rejects bad indices naming the sample and the index") {
  Tensor x = randn({3, 4, 5, 6}, 3);
  auto idx = [](std::vector<int64_t> v) { return Tensor::from_vector(v, {int64_t(v.size())}); };
  CHECK_THROWS_WITH_AS(gather_cells(x, idx({0, 5, 1}), idx({0, 0, 0})),
                       doctest::Contains("gather_cells: sample 1 has row index 5 outside [0, 5)"), Error);
  CHECK_THROWS_WITH_AS(gather_cells(x, idx({0, 1, 1}), idx({0, 0, -1})),
                       doctest::Contains("gather_cells: sample 2 has col index -1 outside [0, 6)"), Error);
  CHECK_THROWS_WITH_AS(gather_cells(x, idx({0, 1}), idx({0, 0, 0})),
                       doctest::Contains("gather_cells: row i64[2] cpu must be i64 [3]"), Error);
  CHECK_THROWS_WITH_AS(gather_cells(x, Tensor::zeros({3}), idx({0, 0, 0})),
                       doctest::Contains("gather_cells: row f32[3] cpu must be i64 [3]"), Error);
  CHECK_THROWS_WITH_AS(gather_cells(randn({3, 4, 5}, 4), idx({0, 0, 0}), idx({0, 0, 0})),
                       doctest::Contains("gather_cells: expected an input [B, C, H, W], got f64[3, 4, 5] cpu"), Error);
  CHECK_THROWS_WITH_AS(gather_cells(Tensor::zeros({0, 4, 5, 6}), idx({}), idx({})),
                       doctest::Contains("gather_cells: input f32[0, 4, 5, 6] cpu is empty"), Error);
  CHECK_THROWS_WITH_AS(gather_cells(x, Tensor(), idx({0, 0, 0})),
                       doctest::Contains("gather_cells: row is an undefined"), Error);
}

TEST_CASE("concat joins along any dim and splits the gradient back") {
  Tensor a = randn({2, 3, 4}, 5).set_requires_grad(true);
  Tensor b = randn({2, 1, 4}, 6).set_requires_grad(true);
  Tensor c = randn({2, 2, 4}, 7).set_requires_grad(true);
  CHECK_CLOSE(concat({a, b, c}, 1), ref_concat({a, b, c}, 1), tol::kForwardF64);
  CHECK_CLOSE(concat({a, b, c}, -2), ref_concat({a, b, c}, 1), tol::kForwardF64);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return concat(in, 1); }, {a, b, c});
  Tensor d = randn({1, 3, 4}, 8).set_requires_grad(true);
  CHECK_CLOSE(concat({a, d}, 0), ref_concat({a, d}, 0), tol::kForwardF64);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return concat(in, 0); }, {a, d});
  Tensor e = randn({2, 3, 2}, 9).set_requires_grad(true);
  CHECK_CLOSE(concat({a, e, a}, -1), ref_concat({a, e, a}, 2), tol::kForwardF64);
  // the same tensor twice accumulates both slices; non-contiguous parts
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return concat({in[0], in[1], in[0]}, 2); }, {a, e});
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return concat({in[0].permute({0, 2, 1}), in[1].slice(1, 1, 4, 2)}, 1);
      },
      {a, randn({2, 5, 3}, 10).set_requires_grad(true)});
  // a constant part gets no gradient; integer tensors concatenate too
  Tensor k = randn({2, 1, 4}, 11);
  concat({a, k}, 1).backward(Tensor::full({2, 4, 4}, 1.0, DType::F64));
  CHECK_FALSE(k.grad().defined());
  Tensor i = concat({Tensor::from_vector<int64_t>({1, 2}, {2}), Tensor::from_vector<int64_t>({3}, {1})}, 0);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
  CHECK_CLOSE(concat({a.to(DType::F32), b.to(DType::F32)}, 1), ref_concat({a, b}, 1), tol::kForwardF32);
}

TEST_CASE("concat rejects mismatched inputs with the op name") {
  Tensor a = randn({2, 3}, 12);
  CHECK_THROWS_WITH_AS(
      concat({a, randn({3, 3}, 13)}, 1),
      doctest::Contains("concat: tensor 1 f64[3, 3] cpu does not match tensor 0 f64[2, 3] cpu outside dim 1"), Error);
  CHECK_THROWS_WITH_AS(concat({a, randn({2, 3, 1}, 14)}, 0), doctest::Contains("concat: tensor 1 f64[2, 3, 1] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(concat({a, randn({2, 3}, 15, DType::F32)}, 0), doctest::Contains("different dtypes"), Error);
  CHECK_THROWS_WITH_AS(concat({a, a}, 2), doctest::Contains("concat: dim 2 out of range for f64[2, 3] cpu"), Error);
  CHECK_THROWS_WITH_AS(concat({}, 0), doctest::Contains("concat: no tensors"), Error);
  CHECK_THROWS_WITH_AS(concat({a, Tensor::zeros({0, 3}, DType::F64)}, 0),
                       doctest::Contains("concat: tensor 1 f64[0, 3] cpu is empty"), Error);
  CHECK_THROWS_WITH_AS(concat({a, Tensor()}, 0), doctest::Contains("concat: tensor 1 is undefined"), Error);
}
