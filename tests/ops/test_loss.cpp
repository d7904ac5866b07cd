#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ops/binary.h"
#include "ops/loss.h"
#include "ops/math.h"
#include "ops/reduce.h"
#include "ops/softmax.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

Tensor scalar_f64(double v) { return Tensor::from_vector(std::vector<double>{v}, {}); }

// Softmax over dim 1 of [B, C, P] values (row-major), in double.
std::vector<double> ref_softmax(const std::vector<double>& z, int64_t B, int64_t C, int64_t P) {
  std::vector<double> p(z.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < P; ++k) {
      double m = -INFINITY, s = 0;
      for (int64_t c = 0; c < C; ++c) m = std::max(m, z[size_t((b * C + c) * P + k)]);
      for (int64_t c = 0; c < C; ++c) s += std::exp(z[size_t((b * C + c) * P + k)] - m);
      for (int64_t c = 0; c < C; ++c) p[size_t((b * C + c) * P + k)] = std::exp(z[size_t((b * C + c) * P + k)] - m) / s;
    }
  return p;
}

// docs/reference-model.md 5.1 in its closed form: per class present in the target,
// 1 - 2 sum(p t) / (sum p + sum t); absent classes give 0; mean over all C.
// With `present_only` the mean runs over present classes (the wrong variant).
double ref_dice(const Tensor& logits, const Tensor& target, bool present_only = false) {
  const int64_t B = logits.size(0), C = logits.size(1), P = logits.size(2) * logits.size(3);
  auto p = ref_softmax(values(logits), B, C, P);
  auto y = target.to_vector<int64_t>();
  double total = 0;
  int present = 0;
  for (int64_t c = 0; c < C; ++c) {
    double spt = 0, sp = 0, st = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < P; ++k) {
        double pv = p[size_t((b * C + c) * P + k)], tv = y[size_t(b * P + k)] == c ? 1.0 : 0.0;
        spt += pv * tv;
        sp += pv;
        st += tv;
      }
    if (st > 0) {
      total += 1 - 2 * spt / (sp + st);
      ++present;
    }
  }
  return total / double(present_only ? present : C);
}

double ref_cross_entropy(const Tensor& logits, const Tensor& target) {
  const int64_t B = logits.size(0), C = logits.size(1);
  auto p = ref_softmax(values(logits), B, C, 1);
  auto y = target.to_vector<int64_t>();
  double total = 0;
  for (int64_t b = 0; b < B; ++b) total -= std::log(p[size_t(b * C + y[size_t(b)])]);
  return total / double(B);
}

double ref_pointwise(const Tensor& input, const Tensor& target, double (*f)(double, double)) {
  auto x = values(input), t = values(target);
  double total = 0;
  for (size_t i = 0; i < x.size(); ++i) total += f(x[i], t[i]);
  return total / double(x.size());
}
double ref_mse(double x, double t) { return (x - t) * (x - t); }
double ref_l1(double x, double t) { return std::fabs(x - t); }
double ref_bce(double x, double t) {  // the textbook form, fine for |x| of order 1
  double s = 1 / (1 + std::exp(-x));
  return -(t * std::log(s) + (1 - t) * std::log(1 - s));
}

void check_all_finite(const Tensor& t) {
  for (double v : values(t)) REQUIRE(std::isfinite(v));
}

using LossFn = Tensor (*)(const Tensor&, const Tensor&);

}  // namespace

TEST_CASE("loss: dice matches the closed form for C = 2, 3, 5 (f64 and f32)") {
  for (int64_t C : {2, 3, 5}) {
    CAPTURE(C);
    Tensor z = randn({2, C, 5, 7}, 10 + uint64_t(C), DType::F64, 2.0);
    Tensor y = rand_int({2, 5, 7}, 0, C, 20 + uint64_t(C));
    Tensor expected = scalar_f64(ref_dice(z, y));
    Tensor loss = dice_loss(z, y);
    CHECK(loss.shape() == Shape{});
    CHECK(loss.dtype() == DType::F64);
    CHECK_CLOSE(loss, expected, tol::kForwardF64);
    Tensor loss32 = dice_loss(z.to(DType::F32), y);
    CHECK(loss32.dtype() == DType::F32);
    CHECK_CLOSE(loss32, expected, tol::kForwardF32);
  }
}

TEST_CASE("loss: dice on a large batch (parallel, partial pixel blocks) matches the closed form") {
  // 15 x 20 = 300 pixels: one full block of 256 and a partial one per image
  Tensor z = randn({3, 5, 15, 20}, 30, DType::F64, 3.0);
  Tensor y = rand_int({3, 15, 20}, 0, 5, 31);
  CHECK_CLOSE(dice_loss(z, y), scalar_f64(ref_dice(z, y)), tol::kForwardF64);
  Tensor z2 = randn({2, 5, 64, 64}, 32, DType::F32, 3.0);
  Tensor y2 = rand_int({2, 64, 64}, 0, 5, 33);
  CHECK_CLOSE(dice_loss(z2, y2), scalar_f64(ref_dice(z2, y2)), tol::kForwardF32);
}

TEST_CASE("loss: dice counts a class absent from the target as 0 in the mean over all classes") {
  Tensor z = randn({2, 4, 3, 5}, 40, DType::F64, 1.5).set_requires_grad(true);
  auto v = rand_int({2, 3, 5}, 0, 3, 41).to_vector<int64_t>();
  for (auto& e : v) e = e == 2 ? 3 : e;  // classes 0, 1, 3 only
  Tensor y = Tensor::from_vector(v, {2, 3, 5});
  double expected = ref_dice(z, y);
  CHECK(std::fabs(expected - ref_dice(z, y, /*present_only=*/true)) > 1e-3);  // the two variants differ
  CHECK_CLOSE(dice_loss(z, y), scalar_f64(expected), tol::kForwardF64);
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return dice_loss(in[0], y); }, {z});
}

// Dice (smooth 0) composed of autograd ops, the multi-pass way SMP computes it:
// softmax, one-hot target, per-class sums over batch and pixels, the score,
// absent classes masked out, the mean over classes.
Tensor composed_dice(const Tensor& z, const Tensor& y) {
  const int64_t B = z.size(0), C = z.size(1), P = z.size(2) * z.size(3);
  const auto yv = y.to_vector<int64_t>();
  std::vector<double> onehot(static_cast<size_t>(B * C * P)), present(static_cast<size_t>(C));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < P; ++k) {
      const int64_t c = yv[size_t(b * P + k)];
      onehot[size_t((b * C + c) * P + k)] = 1;
      present[size_t(c)] = 1;
    }
  Tensor t = Tensor::from_vector(onehot, z.shape()).to(z.dtype());
  Tensor p = softmax(z, 1);
  Tensor inter = sum(p * t, {0, 2, 3}), sp = sum(p, {0, 2, 3}), st = sum(t, {0, 2, 3});
  Tensor score = (2.0 * inter) / (sp + st);
  Tensor mask = Tensor::from_vector(present, {C}).to(z.dtype());
  return sum((-score + 1.0) * mask) * (1.0 / double(C));
}

TEST_CASE("loss: the one-pass dice kernel matches the multi-pass composition, loss and gradient") {
  // 64 x 70 = 4480 pixels: 17 full blocks and a partial one per image, parallel;
  // C = 40 grows the softmax scratch; class 2 (C = 4) is absent.
  struct Case {
    int64_t B, C, H, W;
  };
  for (const Case& k : {Case{2, 4, 64, 70}, Case{2, 40, 9, 31}}) {
    CAPTURE(k.C);
    Tensor z = randn({k.B, k.C, k.H, k.W}, 70 + uint64_t(k.C), DType::F64, 3.0);
    auto yv = rand_int({k.B, k.H, k.W}, 0, k.C, 71 + uint64_t(k.C)).to_vector<int64_t>();
    if (k.C == 4)
      for (auto& e : yv) e = e == 2 ? 1 : e;
    Tensor y = Tensor::from_vector(yv, {k.B, k.H, k.W});
    Tensor zc = z.detach().set_requires_grad(true), zk = z.detach().set_requires_grad(true);
    Tensor want = composed_dice(zc, y), got = dice_loss(zk, y);
    CHECK_CLOSE(got, want, tol::kForwardF64);
    want.backward();
    got.backward();
    CHECK_CLOSE(zk.grad(), zc.grad(), tol::kForwardF64);
    // f32 kernel (vectorised exp) against the f64 composition
    Tensor z32 = z.detach().to(DType::F32).set_requires_grad(true);
    Tensor got32 = dice_loss(z32, y);
    CHECK_CLOSE(got32, want, tol::kForwardF32);
    got32.backward();
    CHECK_CLOSE(z32.grad(), zc.grad(), tol::kForwardF32);
  }
}

TEST_CASE("loss: dice gradients match finite differences over several pixel blocks, an absent class") {
  Tensor z = randn({2, 3, 17, 19}, 75, DType::F64, 2.0).set_requires_grad(true);  // 323 pixels: 2 blocks
  auto yv = rand_int({2, 17, 19}, 0, 2, 76).to_vector<int64_t>();                 // class 2 absent
  Tensor y = Tensor::from_vector(yv, {2, 17, 19});
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return dice_loss(in[0], y); }, {z});
}

TEST_CASE("loss: dice gradients match finite differences for C = 2, 3, 5") {
  for (int64_t C : {2, 3, 5}) {
    CAPTURE(C);
    Tensor z = randn({2, C, 3, 4}, 50 + uint64_t(C), DType::F64, 1.5).set_requires_grad(true);
    Tensor y = rand_int({2, 3, 4}, 0, C, 60 + uint64_t(C));
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return dice_loss(in[0], y); }, {z});
    // smooth > 0 changes both numerator and denominator
    CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return dice_loss(in[0], y, 1.0); }, {z});
  }
}

TEST_CASE("loss: dice accepts non-contiguous logits and target") {
  // channels-last storage viewed as [B, C, H, W]; target transposed
  Tensor z = randn({2, 3, 4, 3}, 70).set_requires_grad(true);  // [B, H, W, C]
  Tensor yt = rand_int({2, 4, 3}, 0, 3, 71);                   // [B, W, H]
  auto fn = [&](const std::vector<Tensor>& in) {
    return dice_loss(in[0].permute({0, 3, 1, 2}), yt.permute({0, 2, 1}));
  };
  CHECK_CLOSE(fn({z}), scalar_f64(ref_dice(z.permute({0, 3, 1, 2}), yt.permute({0, 2, 1}).contiguous())),
              tol::kForwardF64);
  CHECK_GRADCHECK(fn, {z});
}

TEST_CASE("loss: dice f32 gradients match f64") {
  Tensor z = randn({2, 5, 6, 7}, 80, DType::F64, 2.0).set_requires_grad(true);
  Tensor z32 = z.detach().to(DType::F32).set_requires_grad(true);
  Tensor y = rand_int({2, 6, 7}, 0, 5, 81);
  dice_loss(z, y).backward();
  dice_loss(z32, y).backward();
  REQUIRE(z32.grad().dtype() == DType::F32);
  CHECK_CLOSE(z32.grad(), z.grad(), tol::kForwardF32);
}

TEST_CASE("loss: dice with saturated logits gives finite loss and gradients") {
  Tensor y = rand_int({2, 4, 4}, 0, 3, 90);
  auto yv = y.to_vector<int64_t>();
  // +-30 puts the softmax at 1 to working precision, +-60 also makes its
  // small entries underflow to exactly 0 in f32; logits are right for even
  // pixels and wrong for odd ones.
  for (double big : {30.0, 60.0})
    for (DType dt : {DType::F64, DType::F32}) {
      CAPTURE(big);
      CAPTURE(dtype_name(dt));
      std::vector<double> zv(2 * 3 * 16);
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t k = 0; k < 16; ++k) {
            bool want = (yv[size_t(b * 16 + k)] == c) == (k % 2 == 0);
            zv[size_t((b * 3 + c) * 16 + k)] = want ? big : -big;
          }
      Tensor z = Tensor::from_vector(zv, {2, 3, 4, 4}).to(dt).set_requires_grad(true);
      Tensor loss = dice_loss(z, y);
      check_all_finite(loss);
      CHECK(loss.item() == doctest::Approx(ref_dice(z, y)).epsilon(1e-5));
      loss.backward();
      check_all_finite(z.grad());
    }
}

TEST_CASE("loss: dice clamps the denominator at eps with no gradient through the clamp") {
  // A negative smooth pushes the denominator below eps (impossible with the
  // default smooth 0, where a present class has den >= 1/2).
  const double I = 0.2, Sp = 0.3, St = 1.0, eps = 1e-7, h = 1e-6;
  for (double smooth : {0.5, -0.7}) {
    CAPTURE(smooth);
    double dI, dSp;
    math::dice_class_loss_grad(I, Sp, St, smooth, eps, &dI, &dSp);
    auto l = [&](double i, double sp) { return math::dice_class_loss(i, sp, St, smooth, eps); };
    CHECK(dI == doctest::Approx((l(I + h, Sp) - l(I - h, Sp)) / (2 * h)).epsilon(1e-6));
    CHECK(dSp == doctest::Approx((l(I, Sp + h) - l(I, Sp - h)) / (2 * h)).epsilon(1e-6));
  }
  double dI, dSp;
  math::dice_class_loss_grad(I, Sp, St, -0.7, eps, &dI, &dSp);
  CHECK(dSp == 0.0);
  CHECK(dI == doctest::Approx(-1.0 / eps));
  math::dice_class_loss_grad(I, Sp, 0.0, 0.0, eps, &dI, &dSp);  // absent class: no gradient
  CHECK(dI == 0.0);
  CHECK(dSp == 0.0);
}

TEST_CASE("loss: cross_entropy matches log-softmax NLL, gradients match finite differences") {
  Tensor z = randn({6, 5}, 100, DType::F64, 2.0).set_requires_grad(true);
  Tensor y = rand_int({6}, 0, 5, 101);
  Tensor expected = scalar_f64(ref_cross_entropy(z, y));
  CHECK_CLOSE(cross_entropy(z, y), expected, tol::kForwardF64);
  CHECK_CLOSE(cross_entropy(z.detach().to(DType::F32), y), expected, tol::kForwardF32);
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], y); }, {z});
  // non-contiguous: a transposed [C, B] tensor
  Tensor zt = randn({5, 6}, 102).set_requires_grad(true);
  auto fn = [&](const std::vector<Tensor>& in) { return cross_entropy(in[0].permute({1, 0}), y); };
  CHECK_CLOSE(fn({zt}), scalar_f64(ref_cross_entropy(zt.permute({1, 0}), y)), tol::kForwardF64);
  CHECK_GRADCHECK(fn, {zt});
  // a large batch takes the parallel path
  Tensor zl = randn({300, 120}, 103, DType::F32, 2.0);
  Tensor yl = rand_int({300}, 0, 120, 104);
  CHECK_CLOSE(cross_entropy(zl, yl), scalar_f64(ref_cross_entropy(zl, yl)), tol::kForwardF32);
}

TEST_CASE("loss: cross_entropy f32 gradients match f64, saturated logits stay finite") {
  Tensor z = randn({4, 7}, 110, DType::F64, 2.0).set_requires_grad(true);
  Tensor z32 = z.detach().to(DType::F32).set_requires_grad(true);
  Tensor y = rand_int({4}, 0, 7, 111);
  cross_entropy(z, y).backward();
  cross_entropy(z32, y).backward();
  CHECK_CLOSE(z32.grad(), z.grad(), tol::kForwardF32);

  std::vector<double> sv{30, -30, -30, -30, 30, -30};  // sample 0 right, sample 1 wrong (loss 60)
  Tensor y2 = Tensor::from_vector(std::vector<int64_t>{0, 0}, {2});
  for (DType dt : {DType::F64, DType::F32}) {
    Tensor zs = Tensor::from_vector(sv, {2, 3}).to(dt).set_requires_grad(true);
    Tensor loss = cross_entropy(zs, y2);
    CHECK(loss.item() == doctest::Approx(30.0).epsilon(1e-6));
    loss.backward();
    check_all_finite(zs.grad());
  }
}

TEST_CASE("loss: mse, l1 and bce_with_logits match plain references (f64 and f32)") {
  Tensor x = randn({3, 4, 5}, 120, DType::F64, 2.0);
  Tensor t = randn({3, 4, 5}, 121);
  Tensor p = rand_uniform({3, 4, 5}, 0.0, 1.0, 122);  // BCE targets are probabilities
  struct Case {
    LossFn fn;
    double (*ref)(double, double);
    Tensor target;
  };
  for (const Case& c : {Case{mse_loss, ref_mse, t}, Case{l1_loss, ref_l1, t}, Case{bce_with_logits, ref_bce, p}}) {
    Tensor expected = scalar_f64(ref_pointwise(x, c.target, c.ref));
    Tensor loss = c.fn(x, c.target);
    CHECK(loss.shape() == Shape{});
    CHECK_CLOSE(loss, expected, tol::kForwardF64);
    CHECK_CLOSE(c.fn(x.to(DType::F32), c.target.to(DType::F32)), expected, tol::kForwardF32);
    // non-contiguous views of both
    CHECK_CLOSE(c.fn(x.permute({2, 0, 1}), c.target.permute({2, 0, 1})), expected, tol::kForwardF64);
  }
  // large enough for the parallel, chunked sum
  Tensor xl = randn({7, 100, 100}, 123, DType::F32), tl = randn({7, 100, 100}, 124, DType::F32);
  CHECK_CLOSE(mse_loss(xl, tl), scalar_f64(ref_pointwise(xl, tl, ref_mse)), tol::kForwardF32);
}

TEST_CASE("loss: f32 bce_with_logits over several chunks and a tail matches f64, loss and gradients") {
  // 3 x 5000 = 15000 elements: 8192-element chunks, one partial; logits up to
  // +-40 reach the saturated exp and sigmoid
  Tensor x = randn({3, 5000}, 125, DType::F64, 12.0).set_requires_grad(true);
  Tensor p = rand_uniform({3, 5000}, 0.0, 1.0, 126);
  Tensor x32 = x.detach().to(DType::F32).set_requires_grad(true);
  Tensor loss = bce_with_logits(x, p), loss32 = bce_with_logits(x32, p.to(DType::F32));
  CHECK_CLOSE(loss32, loss, tol::kForwardF32);
  loss.backward();
  loss32.backward();
  CHECK_CLOSE(x32.grad(), x.grad(), tol::kForwardF32);
}

TEST_CASE("loss: mse, l1 and bce_with_logits gradients w.r.t. input and target") {
  Tensor x = randn({3, 4}, 130, DType::F64, 2.0).set_requires_grad(true);
  Tensor t = randn({3, 4}, 131).set_requires_grad(true);
  Tensor p = rand_uniform({3, 4}, 0.0, 1.0, 132).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); }, {x, t});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return bce_with_logits(in[0], in[1]); }, {x, p});
  // l1: keep input - target away from the kink at 0
  auto xv = values(x), tv = values(t);
  for (size_t i = 0; i < xv.size(); ++i) {
    double d = xv[i] - tv[i];
    xv[i] = tv[i] + (d >= 0 ? d + 0.1 : d - 0.1);
  }
  Tensor xa = Tensor::from_vector(xv, {3, 4}).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return l1_loss(in[0], in[1]); }, {xa, t});
  // non-contiguous input
  CHECK_GRADCHECK(
      [&](const std::vector<Tensor>& in) {
        return mse_loss(in[0].permute({1, 0}), t.permute({1, 0}));
      },
      {x});
}

TEST_CASE("loss: pointwise gradients go only where requested, l1 subgradient at 0 is 0") {
  Tensor x = randn({5}, 140).set_requires_grad(true);
  Tensor t = randn({5}, 141);
  mse_loss(x, t).backward();
  CHECK(x.grad().defined());
  CHECK_FALSE(t.grad().defined());
  Tensor t2 = randn({5}, 142).set_requires_grad(true);
  Tensor x2 = randn({5}, 143);
  bce_with_logits(x2, t2).backward();
  CHECK_FALSE(x2.grad().defined());
  auto g = values(t2.grad()), xv = values(x2);
  for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == doctest::Approx(-xv[i] / 5));

  Tensor a = Tensor::from_vector(std::vector<double>{1.0, 2.0, -1.0}, {3}).set_requires_grad(true);
  Tensor b = Tensor::from_vector(std::vector<double>{1.0, 1.0, 1.0}, {3}).set_requires_grad(true);
  l1_loss(a, b).backward();
  CHECK(values(a.grad()) == std::vector<double>{0.0, 1.0 / 3, -1.0 / 3});
  CHECK(values(b.grad()) == std::vector<double>{0.0, -1.0 / 3, 1.0 / 3});
}

TEST_CASE("loss: bce_with_logits is finite and exact for saturated logits") {
  for (DType dt : {DType::F64, DType::F32}) {
    Tensor x = Tensor::from_vector(std::vector<double>{30, -30, 100, -100}, {4}).to(dt).set_requires_grad(true);
    Tensor t = Tensor::from_vector(std::vector<double>{1, 0, 0, 1}, {4}).to(dt);
    Tensor loss = bce_with_logits(x, t);
    // the two wrong ones cost |x| each (+ log(1+e^-100) = 0)
    CHECK(loss.item() == doctest::Approx((2 * std::log1p(std::exp(-30.0)) + 200) / 4).epsilon(1e-6));
    loss.backward();
    check_all_finite(x.grad());
  }
}

TEST_CASE("loss: bad inputs raise errors naming the op") {
  Tensor z = randn({2, 3, 4, 4}, 150), y = rand_int({2, 4, 4}, 0, 3, 151);
  CHECK_THROWS_WITH_AS(dice_loss(z, rand_int({2, 4, 5}, 0, 3, 152)),
                       doctest::Contains("dice_loss: target i64[2, 4, 5] cpu does not match logits f64[2, 3, 4, 4]"),
                       Error);
  CHECK_THROWS_WITH_AS(dice_loss(z, y.to(DType::F32)), doctest::Contains("dice_loss: target f32[2, 4, 4]"), Error);
  auto yv = y.to_vector<int64_t>();
  yv[7] = 3;
  CHECK_THROWS_WITH_AS(dice_loss(z, Tensor::from_vector(yv, {2, 4, 4})),
                       doctest::Contains("dice_loss: target i64[2, 4, 4] cpu holds class 3, outside [0, 3)"), Error);
  yv[7] = -1;
  CHECK_THROWS_WITH_AS(dice_loss(z, Tensor::from_vector(yv, {2, 4, 4})), doctest::Contains("holds class -1"), Error);
  CHECK_THROWS_WITH_AS(dice_loss(Tensor::zeros({0, 3, 4, 4}, DType::F64), rand_int({0, 4, 4}, 0, 3, 1)),
                       doctest::Contains("dice_loss: logits f64[0, 3, 4, 4] cpu is empty"), Error);
  CHECK_THROWS_WITH_AS(dice_loss(randn({3, 4, 4}, 153), y), doctest::Contains("dice_loss: logits f64[3, 4, 4]"), Error);
  CHECK_THROWS_WITH_AS(dice_loss(Tensor::zeros({2, 3, 4, 4}, DType::I64), y),
                       doctest::Contains("dice_loss: logits i64"), Error);
  CHECK_THROWS_WITH_AS(dice_loss(z, Tensor()), doctest::Contains("dice_loss"), Error);

  Tensor zc = randn({4, 3}, 154), yc = rand_int({4}, 0, 3, 155);
  CHECK_THROWS_WITH_AS(cross_entropy(zc, rand_int({5}, 0, 3, 156)),
                       doctest::Contains("cross_entropy: target i64[5] cpu does not match logits f64[4, 3]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zc, yc.to(DType::F64)), doctest::Contains("cross_entropy: target f64[4]"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zc, rand_int({4}, 3, 9, 157)), doctest::Contains("cross_entropy: target i64[4]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(Tensor::zeros({0, 3}, DType::F64), rand_int({0}, 0, 3, 1)),
                       doctest::Contains("cross_entropy: logits f64[0, 3] cpu is empty"), Error);

  for (LossFn fn : {mse_loss, l1_loss, bce_with_logits}) {
    CHECK_THROWS_WITH_AS(fn(randn({2, 3}, 160), randn({3, 2}, 161)),
                         doctest::Contains("input f64[2, 3] cpu and target f64[3, 2] cpu must have the same shape"),
                         Error);
    CHECK_THROWS_WITH_AS(fn(randn({2, 3}, 162), randn({2, 3}, 163, DType::F32)),
                         doctest::Contains("f64[2, 3] cpu and f32[2, 3] cpu have different dtypes"), Error);
    CHECK_THROWS_WITH_AS(fn(Tensor::zeros({0}, DType::F64), Tensor::zeros({0}, DType::F64)),
                         doctest::Contains("input f64[0] cpu is empty"), Error);
    CHECK_THROWS_WITH_AS(fn(rand_int({3}, 0, 2, 164), rand_int({3}, 0, 2, 165)), doctest::Contains("input i64[3]"),
                         Error);
  }
  CHECK_THROWS_WITH_AS(mse_loss(randn({2}, 1), randn({3}, 2)), doctest::Contains("mse_loss"), Error);
  CHECK_THROWS_WITH_AS(l1_loss(randn({2}, 1), randn({3}, 2)), doctest::Contains("l1_loss"), Error);
  CHECK_THROWS_WITH_AS(bce_with_logits(randn({2}, 1), randn({3}, 2)), doctest::Contains("bce_with_logits"), Error);
}
