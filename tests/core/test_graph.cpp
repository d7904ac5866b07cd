// Autograd through graphs with shared subexpressions, built from the real ops:
// each tensor below feeds several consumers, so its gradient is the sum over
// all paths, which the engine must accumulate exactly once per path.
#include <doctest/doctest.h>

#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/dropout.h"
#include "ops/gather.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("graph: residual x + f(x) like an MBConv block") {
  Tensor x = randn({2, 3, 4, 4}, 1).set_requires_grad(true);
  Tensor w = randn({1, 3, 1, 1}, 2).set_requires_grad(true);
  // f = drop_connect(squeeze-excite(silu(x * w))); the block input is reused by the skip add
  auto block = [](const std::vector<Tensor>& in) {
    Tensor h = silu(in[0] * in[1]);
    Tensor gate = sigmoid(mean(h, {2, 3}, true));  // [2, 3, 1, 1]
    Generator gen(5, 0);
    return drop_connect(h * gate, 0.3, true, gen) + in[0];
  };
  Generator probe(5, 0);  // the test is only meaningful if some sample keeps its branch
  auto kept = values(drop_connect(Tensor::full({2, 1}, 1.0, DType::F64), 0.3, true, probe));
  REQUIRE((kept[0] != 0.0 || kept[1] != 0.0));
  CHECK_GRADCHECK(block, {x, w});
  // two stacked blocks share every intermediate twice
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return block({block(in), in[1]}); }, {x, w});
}

TEST_CASE("graph: FPN-like sum of several paths from one tensor") {
  Tensor c = randn({2, 4, 3, 3}, 3).set_requires_grad(true);
  Tensor s = randn({4, 1, 1}, 4).set_requires_grad(true);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Tensor t = silu(in[0]);  // shared by four paths
        Tensor p1 = t * in[1];
        Tensor p2 = softmax(t, 1);
        Tensor p3 = mul_scalar(t, 0.5) - mean(t, {1}, true);
        Tensor p4 = concat({t.slice(1, 2, 4), t.slice(1, 0, 2)}, 1);
        Generator gen(9, 3);
        return dropout2d(p1 + p2 + p3 + p4, 0.25, true, gen);
      },
      {c, s});
}

TEST_CASE("graph: diamond a -> (b, c) -> b * c") {
  Tensor x = randn({3, 5}, 5).set_requires_grad(true);
  Tensor y = rand_uniform({5}, 0.5, 2.0, 6).set_requires_grad(true);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Tensor a = in[0] / in[1];
        Tensor b = log_softmax(a, 1);
        Tensor c = sigmoid(a) + add_scalar(a, 1.0);
        return sum(b * c, {1}) + sum(a);
      },
      {x, y});
  // a nested diamond where the second diamond re-enters the first one's apex
  Tensor z = randn({2, 3, 4, 5}, 7).set_requires_grad(true);
  Tensor rows = Tensor::from_vector<int64_t>({3, 0}, {2}), cols = Tensor::from_vector<int64_t>({1, 4}, {2});
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        Tensor a = relu(in[0]) + in[0];
        Tensor d = silu(a) * sigmoid(a);
        Tensor e = d - a;
        return gather_cells(e * d, rows, cols) + mean(a, {2, 3});
      },
      {z});
}

TEST_CASE("graph: the leaf gradient is the sum of the per-path gradients") {
  Tensor x = randn({4, 3}, 8).set_requires_grad(true);
  Tensor seed = randn({4, 3}, 9);
  auto path1 = [](const Tensor& t) { return silu(t) * t; };
  auto path2 = [](const Tensor& t) { return softmax(t, 0); };
  path1(x).backward(seed);
  auto g1 = values(x.grad());
  x.reset_grad();
  path2(x).backward(seed);
  auto g2 = values(x.grad());
  x.reset_grad();
  (path1(x) + path2(x)).backward(seed);
  auto g = values(x.grad());
  for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(g1[i] + g2[i]).epsilon(1e-12));
}
