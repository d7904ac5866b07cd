#include <doctest/doctest.h>

#include <cmath>
#include <iterator>

#include "optim/adamw.h"
#include "optim/schedule.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {
// PyTorch's AdamW written out in double for one tensor.
struct RefAdamW {
  std::vector<double> p, m, v;
  int64_t step = 0;
  void update(const std::vector<double>& g, double lr, double wd) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    ++step;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, double(step))) + eps;
      p[i] -= lr / (1 - std::pow(b1, double(step))) * m[i] / denom;
    }
  }
};

Tensor param(const Shape& s, uint64_t seed, const char* name) {
  Tensor t = randn(s, seed, DType::F32);
  t.set_requires_grad(true).set_name(name);
  return t;
}
}  // namespace

TEST_CASE("AdamW matches PyTorch's update and skips parameters without a gradient") {
  Tensor a = param({3, 4}, 1, "enc.w");
  Tensor b = param({5}, 2, "head.w");
  RefAdamW ra{values(a), std::vector<double>(12), std::vector<double>(12)};
  RefAdamW rb{values(b), std::vector<double>(5), std::vector<double>(5)};
  ParamGroup g0{"encoder", {a}, 1e-4, 1e-4};
  ParamGroup g1{"heads", {b}, 1e-3, 1e-3};
  AdamW opt({g0, g1});
  for (int it = 0; it < 5; ++it) {
    opt.zero_grad();
    Tensor ga = randn({3, 4}, 10 + it, DType::F32);
    a.set_grad(ga);
    ra.update(values(ga), 1e-4, 0.01);
    if (it % 2 == 0) {  // b gets a gradient only every other step
      Tensor gb = randn({5}, 20 + it, DType::F32);
      b.set_grad(gb);
      rb.update(values(gb), 1e-3, 0.01);
    }
    opt.step();
  }
  CHECK_CLOSE(a, Tensor::from_vector(ra.p, {3, 4}), Tolerance{1e-6, 1e-7});
  CHECK_CLOSE(b, Tensor::from_vector(rb.p, {5}), Tolerance{1e-6, 1e-7});
  CHECK(opt.state().at("enc.w").step == 5);
  CHECK(opt.state().at("head.w").step == 3);  // skipped steps do not count
}

TEST_CASE("AdamW state round-trips through its state dict") {
  Tensor a = param({4}, 3, "w");
  AdamW opt({ParamGroup{"g", {a}, 1e-3, 1e-3}});
  a.set_grad(randn({4}, 4, DType::F32));
  opt.step();
  auto sd = opt.state_dict();
  Tensor a2 = param({4}, 3, "w");
  a2.copy_(a);
  AdamW opt2({ParamGroup{"g", {a2}, 0.5, 1e-3}});
  opt2.load_state_dict(sd);
  CHECK(opt2.groups()[0].lr == 1e-3);
  Tensor g = randn({4}, 5, DType::F32);
  a.set_grad(g);
  a2.set_grad(g.clone());
  opt.step();
  opt2.step();
  CHECK_CLOSE(a2, a, Tolerance{0, 0});
  sd["bogus.exp_avg"] = Tensor::zeros({4});
  CHECK_THROWS_WITH_AS(opt2.load_state_dict(sd), doctest::Contains("unknown parameter 'bogus.exp_avg'"), Error);
}

TEST_CASE("AdamW rejects unusable parameters") {
  Tensor unnamed = randn({2}, 1, DType::F32).set_requires_grad(true);
  CHECK_THROWS_WITH_AS(AdamW({ParamGroup{"g", {unnamed}}}), doctest::Contains("no name"), Error);
  Tensor w = param({2}, 1, "w");
  CHECK_THROWS_WITH_AS(AdamW({ParamGroup{"a", {w}}, ParamGroup{"b", {w}}}), doctest::Contains("two groups"), Error);
  Tensor d = randn({2}, 1, DType::F64).set_requires_grad(true).set_name("d");
  CHECK_THROWS_WITH_AS(AdamW({ParamGroup{"g", {d}}}), doctest::Contains("must be f32"), Error);
}

TEST_CASE("AdamW: a bad gradient stops the step before any parameter or state changes") {
  Tensor a = param({3}, 1, "a"), b = param({2}, 2, "b");
  AdamW opt({ParamGroup{"g", {a, b}}});
  const std::vector<double> a0 = values(a);
  a.set_grad(randn({3}, 3, DType::F32));
  b.set_grad(randn({4}, 4, DType::F32).slice(0, 0, 4, 2));  // stride 2: not contiguous
  CHECK_THROWS_WITH_AS(opt.step(), doctest::Contains("must be contiguous"), Error);
  CHECK(opt.state().empty());
  CHECK(values(a) == a0);
}

TEST_CASE("cosine annealing per epoch matches the closed form of docs/reference-model.md 6.1") {
  CHECK(cosine_lr(1e-4, 1e-6, 0, 50) == doctest::Approx(1e-4));
  CHECK(cosine_lr(1e-4, 1e-6, 25, 50) == doctest::Approx(1e-6 + (1e-4 - 1e-6) / 2));
  CHECK(cosine_lr(1e-3, 1e-6, 50, 50) == doctest::Approx(1e-6));
  Tensor a = param({2}, 1, "w");
  AdamW opt({ParamGroup{"g", {a}, 1e-3, 1e-3}});
  apply_cosine_schedule(opt, 1e-6, 10, 50);
  CHECK(opt.groups()[0].lr == doctest::Approx(1e-6 + (1e-3 - 1e-6) * (1 + std::cos(M_PI * 10 / 50)) / 2));
}

TEST_CASE("adamw: the multi-tensor backend call is the per-tensor update of every item") {
  // Each item its own hyper-parameters and step count, as in a step where some
  // parameters sat earlier steps out.
  const Shape shapes[] = {{1}, {257}, {4, 3, 3, 3}, {70000}};
  std::vector<Tensor> single, multi;
  std::vector<AdamWItem> items;
  for (size_t k = 0; k < std::size(shapes); ++k) {
    const uint64_t seed = 300 + 10 * k;
    auto state = [&] {
      return std::vector<Tensor>{randn(shapes[k], seed, DType::F32), randn(shapes[k], seed + 1, DType::F32),
                                 randn(shapes[k], seed + 2, DType::F32, 0.1),
                                 rand_uniform(shapes[k], 1e-4, 1e-2, seed + 3, DType::F32)};
    };
    std::vector<Tensor> a = state(), b = state();
    const double lr = 1e-2 * double(k + 1), wd = k % 2 ? 0.0 : 0.05, beta1 = k % 3 ? 0.9 : 0.8;
    const int64_t step = int64_t(k) + 1;
    cpu::adamw_step(a[0], a[1], a[2], a[3], lr, beta1, 0.999, 1e-8, wd, step);
    items.push_back({b[0], b[1], b[2], b[3], lr, beta1, 0.999, 1e-8, wd, step});
    single.insert(single.end(), {a[0], a[2], a[3]});
    multi.insert(multi.end(), {b[0], b[2], b[3]});
  }
  cpu::adamw_step_multi(items);
  for (size_t i = 0; i < single.size(); ++i) {
    CAPTURE(i);
    CHECK(values(multi[i]) == values(single[i]));
  }
}
