#include <doctest/doctest.h>

#include <cmath>

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

TEST_CASE("cosine annealing per epoch matches the closed form of MODEL_SPEC 6.1") {
  CHECK(cosine_lr(1e-4, 1e-6, 0, 50) == doctest::Approx(1e-4));
  CHECK(cosine_lr(1e-4, 1e-6, 25, 50) == doctest::Approx(1e-6 + (1e-4 - 1e-6) / 2));
  CHECK(cosine_lr(1e-3, 1e-6, 50, 50) == doctest::Approx(1e-6));
  Tensor a = param({2}, 1, "w");
  AdamW opt({ParamGroup{"g", {a}, 1e-3, 1e-3}});
  apply_cosine_schedule(opt, 1e-6, 10, 50);
  CHECK(opt.groups()[0].lr == doctest::Approx(1e-6 + (1e-3 - 1e-6) * (1 + std::cos(M_PI * 10 / 50)) / 2));
}
