#include <doctest/doctest.h>

#include "layers/basic.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "layers/norm.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::nn;

namespace {
// A module with own parameters, own buffers and nested children, so the
// PyTorch order (own params, own buffers, then children) is observable.
struct Leaf : Module {
  Leaf() : Module("Leaf") {
    register_parameter("w", Tensor::zeros({2}));
    register_buffer("stat", Tensor::zeros({3}));
  }
};
struct Inner : Module {
  std::shared_ptr<Leaf> a, b;
  Inner() : Module("Inner") {
    a = register_module("a", std::make_shared<Leaf>());
    register_parameter("p", Tensor::zeros({1}));
    b = register_module("b", std::make_shared<Leaf>());
    register_buffer("count", Tensor::zeros({}, DType::I64));
  }
};
struct Outer : Module {
  std::shared_ptr<Inner> inner;
  Outer() : Module("Outer") {
    register_buffer("first_buffer", Tensor::zeros({1}));
    inner = register_module("inner", std::make_shared<Inner>());
    register_parameter("q", Tensor::zeros({4}));
  }
};

std::vector<std::string> keys(const NamedTensors& t) {
  std::vector<std::string> k;
  for (const auto& kv : t) k.push_back(kv.first);
  return k;
}
}  // namespace

TEST_CASE("module: state_dict order is own params, own buffers, then children recursively") {
  Outer m;
  CHECK(keys(m.state_dict()) == std::vector<std::string>{"q", "first_buffer", "inner.p", "inner.count", "inner.a.w",
                                                         "inner.a.stat", "inner.b.w", "inner.b.stat"});
  CHECK(keys(m.named_parameters()) == std::vector<std::string>{"q", "inner.p", "inner.a.w", "inner.b.w"});
  CHECK(keys(m.named_buffers()) ==
        std::vector<std::string>{"first_buffer", "inner.count", "inner.a.stat", "inner.b.stat"});
  CHECK(m.num_parameters() == 4 + 1 + 2 + 2);
  CHECK(m.parameters().size() == 4);
}

TEST_CASE("module: tensors carry their full dotted name, also when attached after construction") {
  Outer m;
  CHECK(m.tensor("inner.a.w").name() == "inner.a.w");
  CHECK(m.inner->a->name() == "inner.a");
  CHECK(m.tensor("inner.a.w").describe().find("'inner.a.w'") != std::string::npos);
  // attaching a built subtree renames it
  Module root("Root");
  auto o = root.register_module("model", std::make_shared<Outer>());
  CHECK(o->tensor("inner.b.stat").name() == "model.inner.b.stat");
  CHECK(root.tensor("model.q").name() == "model.q");
  CHECK(&root.module("model.inner.b") == o->inner->b.get());
}

TEST_CASE("module: parameters are leaves requiring grad, buffers do not") {
  Outer m;
  for (const auto& kv : m.named_parameters()) {
    CHECK(kv.second.requires_grad());
    CHECK(kv.second.is_leaf());
  }
  for (const auto& kv : m.named_buffers()) CHECK_FALSE(kv.second.requires_grad());
}

TEST_CASE("module: registration rejects bad and duplicate names and double parents") {
  Module m("M");
  m.register_parameter("w", Tensor::zeros({1}));
  CHECK_THROWS_WITH_AS(m.register_buffer("w", Tensor::zeros({1})), doctest::Contains("already used"), Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("a.b", Tensor::zeros({1})), doctest::Contains("invalid name"), Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("", Tensor::zeros({1})), doctest::Contains("invalid name"), Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("i", Tensor::zeros({1}, DType::I64)),
                       doctest::Contains("floating-point leaf"), Error);
  auto child = std::make_shared<Leaf>();
  m.register_module("c", child);
  Module other("Other");
  CHECK_THROWS_WITH_AS(other.register_module("c", child), doctest::Contains("already has a parent"), Error);
  CHECK_THROWS_WITH_AS(m.tensor("c.nope"), doctest::Contains("c.nope"), Error);
  CHECK_THROWS_WITH_AS(m.module("x.y"), doctest::Contains("x.y"), Error);
}

TEST_CASE("module: train/eval propagate to every descendant") {
  Outer m;
  CHECK(m.is_training());
  m.eval();
  for (auto& kv : m.named_modules()) CHECK_FALSE(kv.second->is_training());
  m.inner->train();
  CHECK_FALSE(m.is_training());
  CHECK(m.inner->a->is_training());
  m.train();
  for (auto& kv : m.named_modules()) CHECK(kv.second->is_training());
  CHECK(m.named_modules().size() == 4);
}

TEST_CASE("module: ModuleList and ModuleDict name children by index and key, Sequential chains") {
  auto list = std::make_shared<Sequential>();
  list->push_back(std::make_shared<Linear>(3, 4));
  list->push_back(std::make_shared<ReLU>());
  list->push_back(std::make_shared<Linear>(4, 2, false));
  CHECK(keys(list->state_dict()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight"});
  CHECK(list->size() == 3);
  ModuleDict<Module> dict;
  dict.insert("zeta", std::make_shared<Leaf>());
  dict.insert("alpha", std::make_shared<Leaf>());
  CHECK(keys(dict.named_parameters()) == std::vector<std::string>{"zeta.w", "alpha.w"});  // insertion order
  CHECK(dict.contains("alpha"));
  CHECK_THROWS_WITH_AS(dict.at("beta"), doctest::Contains("beta"), Error);
}

TEST_CASE("module: to(dtype) converts floats in place, keeps integer buffers and every handle") {
  BatchNorm2d bn(3);
  Tensor w = bn.weight();  // a handle held elsewhere (e.g. by an optimizer)
  bn.to(DType::F64);
  CHECK(w.dtype() == DType::F64);
  CHECK(bn.weight().same(w));
  CHECK(bn.running_var().dtype() == DType::F64);
  CHECK(bn.num_batches_tracked().dtype() == DType::I64);
  CHECK(test::values(bn.running_var()) == std::vector<double>{1, 1, 1});
  CHECK(w.requires_grad());
  bn.to(Device::cpu());  // same device: no-op
  CHECK(bn.weight().same(w));
}

TEST_CASE("module: zero_grad drops gradients (absent, not zero)") {
  Linear lin(2, 2);
  lin.weight().set_grad(Tensor::full({2, 2}, 1.0));
  CHECK(lin.weight().grad().defined());
  lin.zero_grad();
  CHECK_FALSE(lin.weight().grad().defined());
}

TEST_CASE("module: set_random_context reaches the subtree, a subtree can get its own") {
  Outer m;
  auto ctx = std::make_shared<RandomContext>(7);
  m.set_random_context(ctx);
  CHECK(m.inner->b->random_context() == ctx.get());
  auto own = std::make_shared<RandomContext>(8);
  m.inner->a->set_random_context(own);
  CHECK(m.inner->a->random_context() == own.get());
  CHECK(m.inner->b->random_context() == ctx.get());
}
