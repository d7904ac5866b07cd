#include <doctest/doctest.h>

#include "core/autograd.h"
#include "ops/activation.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {
// A test-local a + b (same shapes), so these tests depend on the engine only.
struct AddBackward final : Node {
  const char* name() const override { return "TestAddBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override { return {g, g}; }
};
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = a.contiguous().clone().detach();
  out.add_(b.contiguous().detach());
  if (autograd::needs_grad({&a, &b})) autograd::record(out, std::make_shared<AddBackward>(), {a, b});
  return out;
}
}  // namespace

TEST_CASE("gradients accumulate over a tensor used several times") {
  Tensor x = randn({3, 4}, 1).set_requires_grad(true);
  // s feeds three paths (like a residual plus an FPN lateral add)
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        Tensor s = silu(in[0]);
        return add(add(sigmoid(s), silu(s)), s.permute({1, 0}).contiguous().reshape({3, 4}));
      },
      {x});
  // the same leaf used twice directly
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return add(silu(in[0]), sigmoid(in[0])); }, {x});
}

TEST_CASE("leaf gradients are absent until a backward reaches them, then accumulate") {
  Tensor a = randn({2, 3}, 2).set_requires_grad(true);
  Tensor b = randn({2, 3}, 3).set_requires_grad(true);
  CHECK_FALSE(a.grad().defined());
  silu(a).backward(Tensor::full({2, 3}, 1.0, DType::F64));
  CHECK(a.grad().defined());
  CHECK_FALSE(b.grad().defined());  // b took no part: absent, not zero
  auto first = values(a.grad());
  silu(a).backward(Tensor::full({2, 3}, 1.0, DType::F64));
  auto second = values(a.grad());
  for (size_t i = 0; i < first.size(); ++i) CHECK(second[i] == doctest::Approx(2 * first[i]));
  a.reset_grad();
  CHECK_FALSE(a.grad().defined());
}

TEST_CASE("no-grad scope records nothing") {
  Tensor a = randn({4}, 4).set_requires_grad(true);
  {
    NoGradGuard ng;
    Tensor y = silu(a);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK(silu(a).requires_grad());
}

TEST_CASE("a freed graph cannot be reused, a retained one can") {
  Tensor a = randn({4}, 5).set_requires_grad(true);
  Tensor seed = Tensor::full({4}, 1.0, DType::F64);
  Tensor y = silu(sigmoid(a));
  y.backward(seed);
  CHECK_THROWS_WITH_AS(y.backward(seed), doctest::Contains("already freed"), Error);
  Tensor z = silu(sigmoid(a));
  a.reset_grad();
  z.backward(seed, /*retain_graph=*/true);
  auto once = values(a.grad());
  z.backward(seed);
  auto twice = values(a.grad());
  for (size_t i = 0; i < once.size(); ++i) CHECK(twice[i] == doctest::Approx(2 * once[i]));
}

TEST_CASE("saved tensors are released after backward") {
  Tensor a = randn({1000}, 6).set_requires_grad(true);
  Tensor y = silu(a);
  std::weak_ptr<Storage> input_storage;
  {
    Tensor tmp = sigmoid(a);  // output saved by the sigmoid node
    input_storage = tmp.storage();
    Tensor out = silu(tmp);  // silu saves its input (tmp's storage)
    tmp = Tensor();
    CHECK_FALSE(input_storage.expired());
    out.backward(Tensor::full({1000}, 1.0, DType::F64));
    // out still holds its grad_fn, but the node dropped the saved input
    CHECK(input_storage.expired());
  }
}

TEST_CASE("backward errors are clear") {
  Tensor a = randn({3}, 7);
  CHECK_THROWS_WITH_AS(silu(a).backward(Tensor::full({3}, 1.0, DType::F64)), doctest::Contains("does not require grad"),
                       Error);
  Tensor b = randn({3}, 8).set_requires_grad(true);
  CHECK_THROWS_WITH_AS(silu(b).backward(), doctest::Contains("one-element"), Error);
  CHECK_THROWS_WITH_AS(silu(b).set_requires_grad(true), doctest::Contains("not a leaf"), Error);
}
