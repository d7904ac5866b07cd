// bf16 storage in every op (docs/precision.md), in the spirit of ggml's
// test-backend-ops: one harness over a list of ops. Each op runs forward and
// backward twice on the same fresh random values (bf16-representable, never
// zeros): once with its float inputs in f32, once in bf16 (BatchNorm's
// parameters and running statistics stay f32 beside a bf16 activation). The
// bf16 output and gradients must have the expected dtypes and match the f32
// run within the op's bf16 row of tests/support/tolerances.h.
//
// Observed max relative errors, bf16 vs f32 (forward / input gradients; one
// thread, seed 101; the harness prints them on every run). One rounding,
// kBF16Rounding (bound 2^-8 = 3.91e-3): conv2d 3x3 3.86e-3 / 3.78e-3,
// depthwise 3.64e-3 / 3.62e-3, 1x1 3.78e-3 / 3.82e-3, linear 3.30e-3 /
// 3.72e-3, batch_norm train 3.83e-3 / 3.79e-3, eval 3.73e-3 / 3.33e-3,
// batch_norm_silu train 3.75e-3 / 3.81e-3, eval 3.76e-3 / 3.82e-3,
// group_norm 3.83e-3 / 3.80e-3, silu 3.68e-3 / 3.73e-3, add/sub 3.89e-3 / 0,
// mul 3.86e-3 / 3.86e-3, se_gate 3.65e-3 / 3.78e-3, drop_connect_add
// 3.83e-3 / 3.77e-3, dropout 3.77e-3, global_avg_pool2d 3.13e-3 / 3.38e-3,
// upsample_bilinear2d 3.89e-3 / 3.78e-3, sum 9.0e-4 / 0, mean 3.13e-3 /
// 3.38e-3, cross_entropy 1.2e-4 / 3.62e-3, dice_loss 1.5e-3 / 3.47e-3,
// mse 1.6e-3 / 3.64e-3, l1 3.1e-3 / 1.1e-3, bce 7.9e-5 / 3.68e-3; relu,
// neg, gather_cells, concat, views: 0 (exact); BatchNorm/GroupNorm f32
// parameter gradients: 0 (the f32 run's, bit for bit). Near 2^-8 is what
// correct rounding gives over a few hundred values; the mutation case below
// shows a truncating store exceeds it. kBF16Chain: div 7.2e-3 relative
// (divisor), broadcast mul 7.8e-3 (0.027 absolute). kBF16FromOutput: absolute
// 2.6e-3 (sigmoid), 6.8e-4 (softmax), 8.5e-3 (log_softmax), bound 1.56e-2.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "ops/batch_norm_silu.h"
#include "ops/drop_connect_add.h"
#include "ops/ops.h"
#include "ops/se_gate.h"
#include "ops/sync_batch_norm.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

enum class Kind {
  Normal,    // randn; bf16 in the bf16 run; requires grad
  Positive,  // uniform in [0.5, 2] (divisors, gains); bf16; requires grad
  Param32,   // randn, stays f32 in both runs (BatchNorm weight/bias); requires grad
  Buffer32,  // uniform in [0.5, 2], stays f32, no grad (running statistics)
  Constant,  // uniform in [0, 1] (loss targets); bf16; no grad
};

struct Input {
  Shape shape;
  Kind kind = Kind::Normal;
};

struct OpCase {
  std::string name;
  std::vector<Input> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  Tolerance forward = tol::kBF16Rounding;
  Tolerance backward = tol::kBF16Rounding;
};

bool stays_f32(Kind k) { return k == Kind::Param32 || k == Kind::Buffer32; }
bool wants_grad(Kind k) { return k == Kind::Normal || k == Kind::Positive || k == Kind::Param32; }

// The values of input i, already rounded to bf16 unless the input stays f32.
Tensor make_values(const Input& in, uint64_t seed) {
  Tensor v;
  switch (in.kind) {
    case Kind::Normal:
    case Kind::Param32: v = randn(in.shape, seed, DType::F32); break;
    case Kind::Positive:
    case Kind::Buffer32: v = rand_uniform(in.shape, 0.5, 2.0, seed, DType::F32); break;
    case Kind::Constant: v = rand_uniform(in.shape, 0.0, 1.0, seed, DType::F32); break;
  }
  return stays_f32(in.kind) ? v : v.to(DType::BF16).to(DType::F32);
}

double max_abs_error(const Tensor& actual, const Tensor& expected) {
  auto a = values(actual), e = values(expected);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - e[i]));
  return worst;
}

// Largest |a - e| / |e| (where e == 0, a must be 0 too: else infinity).
double max_rel_error(const Tensor& actual, const Tensor& expected) {
  auto a = values(actual), e = values(expected);
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(e[i])) return INFINITY;
    const double d = std::fabs(a[i] - e[i]);
    worst = std::max(worst, e[i] != 0 ? d / std::fabs(e[i]) : (d == 0 ? 0.0 : INFINITY));
  }
  return worst;
}

struct Run {
  std::vector<Tensor> inputs;
  Tensor out;
};

Run run(const OpCase& c, const std::vector<Tensor>& vals, bool bf16, const Tensor& upstream) {
  Run r;
  for (size_t i = 0; i < vals.size(); ++i) {
    const Kind k = c.inputs[i].kind;
    Tensor t = (bf16 && !stays_f32(k) ? vals[i].to(DType::BF16) : vals[i].clone()).detach();
    if (wants_grad(k)) t.set_requires_grad(true);
    r.inputs.push_back(t);
  }
  r.out = c.fn(r.inputs);
  r.out.backward(upstream.to(r.out.dtype()));
  return r;
}

void check_op(const OpCase& c, uint64_t seed) {
  INFO("op ", c.name);
  std::vector<Tensor> vals;
  for (size_t i = 0; i < c.inputs.size(); ++i) vals.push_back(make_values(c.inputs[i], seed + 17 * i));
  // The output shape, for a bf16-representable upstream gradient.
  Shape out_shape;
  {
    NoGradGuard ng;
    out_shape = c.fn(vals).shape();
  }
  const Tensor upstream = randn(out_shape, seed + 999, DType::F32).to(DType::BF16).to(DType::F32);
  const Run f32 = run(c, vals, false, upstream);
  const Run b16 = run(c, vals, true, upstream);

  CHECK(b16.out.dtype() == DType::BF16);
  CHECK_CLOSE(b16.out, f32.out, c.forward);
  double worst_grad = 0, worst_grad_abs = 0;
  for (size_t i = 0; i < vals.size(); ++i) {
    if (!wants_grad(c.inputs[i].kind)) continue;
    INFO("gradient of input ", i);
    const Tensor g16 = b16.inputs[i].grad(), g32 = f32.inputs[i].grad();
    REQUIRE(g16.defined());
    CHECK(g16.dtype() == b16.inputs[i].dtype());  // a bf16 tensor's gradient is bf16, an f32 one's f32
    CHECK_CLOSE(g16, g32, c.backward);
    worst_grad = std::max(worst_grad, max_rel_error(g16, g32));
    worst_grad_abs = std::max(worst_grad_abs, max_abs_error(g16, g32));
  }
  MESSAGE(c.name, ": max relative error forward ", max_rel_error(b16.out, f32.out), ", gradients ", worst_grad,
          " (absolute ", worst_grad_abs, ")");
}

Tensor i64(const std::vector<int64_t>& v) { return Tensor::from_vector(v, {int64_t(v.size())}); }

// [N] drop-connect mask of 0 and 1/(1-p) = 1.25 (exact in bf16) in x's dtype.
Tensor sample_mask(const Tensor& x) {
  std::vector<float> v(size_t(x.size(0)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 3 == 1 ? 0.0f : 1.25f;
  return Tensor::from_vector(v, {x.size(0)}).to(x.dtype());
}

const Shape kX4{2, 8, 6, 6};

// A bf16 input with f32 weight, bias and running statistics.
using BatchNormFn = Tensor (*)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double,
                               double);
OpCase batch_norm_case(const char* name, BatchNormFn f, bool training) {
  const Kind P = Kind::Param32, B = Kind::Buffer32;
  return {name, {{kX4}, {{8}, P}, {{8}, P}, {{8}, B}, {{8}, B}}, [f, training](const std::vector<Tensor>& v) {
            return f(v[0], v[1], v[2], v[3], v[4], training, 0.1, 1e-3);
          }};
}

// The ops of the EfficientNet-B4 + FPN model first, then the rest.
std::vector<OpCase> model_ops() {
  using V = const std::vector<Tensor>&;
  const Shape& x4 = kX4;
  const Kind P = Kind::Param32;
  return {
      {"conv2d 3x3",
       {{x4}, {{12, 8, 3, 3}}, {{12}}},
       [](V v) { return conv2d(v[0], v[1], v[2], Conv2dOptions::symmetric(1)); }},
      {"conv2d depthwise 3x3 stride 2",
       {{x4}, {{8, 1, 3, 3}}},
       [](V v) { return conv2d(v[0], v[1], Tensor(), Conv2dOptions::symmetric(1, 2, 8)); }},
      {"conv2d 1x1", {{x4}, {{16, 8, 1, 1}}}, [](V v) { return conv2d(v[0], v[1], Tensor(), Conv2dOptions{}); }},
      {"linear", {{{5, 24}}, {{7, 24}}, {{7}}}, [](V v) { return linear(v[0], v[1], v[2]); }},
      batch_norm_case("batch_norm training", batch_norm, true),
      batch_norm_case("batch_norm eval", batch_norm, false),
      batch_norm_case("batch_norm_silu training", batch_norm_silu, true),
      batch_norm_case("batch_norm_silu eval", batch_norm_silu, false),
      {"group_norm", {{x4}, {{8}, P}, {{8}, P}}, [](V v) { return group_norm(v[0], 4, v[1], v[2], 1e-5); }},
      {"silu", {{x4}}, [](V v) { return silu(v[0]); }},
      {"relu", {{x4}}, [](V v) { return relu(v[0]); }},
      {"sigmoid", {{x4}}, [](V v) { return sigmoid(v[0]); }, tol::kBF16Rounding, tol::kBF16FromOutput},
      {"add", {{x4}, {x4}}, [](V v) { return add(v[0], v[1]); }},
      {"sub", {{x4}, {x4}}, [](V v) { return sub(v[0], v[1]); }},
      {"mul", {{x4}, {x4}}, [](V v) { return mul(v[0], v[1]); }},
      {"div", {{x4}, {x4, Kind::Positive}}, [](V v) { return div(v[0], v[1]); }, tol::kBF16Rounding, tol::kBF16Chain},
      {"mul broadcast [N, C, 1, 1]",
       {{x4}, {{2, 8, 1, 1}}},
       [](V v) { return mul(v[0], v[1]); },
       tol::kBF16Rounding,
       tol::kBF16Chain},
      {"add broadcast [C]",
       {{{6, 8}}, {{8}}},
       [](V v) { return add(v[0], v[1]); },
       tol::kBF16Rounding,
       tol::kBF16Chain},
      {"add_scalar", {{x4}}, [](V v) { return add_scalar(v[0], 0.75); }},
      {"mul_scalar", {{x4}}, [](V v) { return mul_scalar(v[0], -1.5); }},
      {"neg", {{x4}}, [](V v) { return neg(v[0]); }},
      {"se_gate", {{x4}, {{2, 8, 1, 1}}}, [](V v) { return se_gate(v[0], v[1]); }},
      {"drop_connect_add", {{x4}, {x4}}, [](V v) { return drop_connect_add(v[0], sample_mask(v[0]), v[1]); }},
      {"dropout p=0.2",
       {{x4}},
       [](V v) {
         Generator gen(7);
         return dropout(v[0], 0.2, true, gen);
       }},
      {"global_avg_pool2d", {{x4}}, [](V v) { return global_avg_pool2d(v[0]); }},
      {"upsample_bilinear2d", {{x4}}, [](V v) { return upsample_bilinear2d(v[0], 11, 13, false); }},
      {"upsample_bilinear2d align_corners", {{x4}}, [](V v) { return upsample_bilinear2d(v[0], 12, 12, true); }},
      {"sum", {{x4}}, [](V v) { return sum(v[0]); }},
      {"mean over dims 2, 3",
       {{x4}},
       [](V v) {
         return mean(v[0], {2, 3}, true);
       }},
      {"sum over dims 0, 2",
       {{x4}},
       [](V v) {
         return sum(v[0], {0, 2});
       }},
      {"softmax", {{{4, 8}}}, [](V v) { return softmax(v[0], 1); }, tol::kBF16Rounding, tol::kBF16FromOutput},
      {"log_softmax dim 1 of 4-d",
       {{x4}},
       [](V v) { return log_softmax(v[0], 1); },
       tol::kBF16Rounding,
       tol::kBF16FromOutput},
      {"gather_cells",
       {{x4}},
       [](V v) {
         return gather_cells(v[0], i64({1, 4}), i64({5, 0}));
       }},
      {"cross_entropy",
       {{{6, 5}}},
       [](V v) {
         return cross_entropy(v[0], i64({0, 4, 2, 2, 1, 3}));
       }},
      {"dice_loss",
       {{{2, 3, 4, 4}}},
       [](V v) {
         return dice_loss(v[0], rand_int({2, 4, 4}, 0, 3, 5), 1.0, 1e-7);
       }},
      {"mse_loss", {{x4}, {x4}}, [](V v) { return mse_loss(v[0], v[1]); }},
      {"l1_loss", {{x4}, {x4}}, [](V v) { return l1_loss(v[0], v[1]); }},
      {"bce_with_logits", {{x4}, {x4, Kind::Constant}}, [](V v) { return bce_with_logits(v[0], v[1]); }},
      {"concat",
       {{x4}, {{2, 3, 6, 6}}},
       [](V v) {
         return concat({v[0], v[1]}, 1);
       }},
      {"views and contiguous copies",
       {{x4}},
       [](V v) {
         return v[0].permute({0, 2, 3, 1}).contiguous().slice(1, 1, 5).reshape({2, -1}).clone();
       }},
      {"upsample_nearest2x", {{x4}}, [](V v) { return upsample_nearest2x(v[0]); }},
      {"sync_batch_norm (one rank)",
       {{x4}, {{8}, P}, {{8}, P}, {{8}, Kind::Buffer32}, {{8}, Kind::Buffer32}},
       [](V v) {
         auto one_rank = std::make_shared<BatchNormReducer>();
         one_rank->allreduce_sum = [](const Tensor&) {};
         return sync_batch_norm(v[0], v[1], v[2], v[3], v[4], 0.1, 1e-3, one_rank);
       }},
      {"dropout2d p=0.2",
       {{x4}},
       [](V v) {
         Generator gen(3);
         return dropout2d(v[0], 0.2, true, gen);
       }},
  };
}

// The same round-to-nearest-even as BFloat16(float), written out for the test.
uint16_t round_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace

TEST_CASE("bf16: every op's forward and backward against its f32 result on the same values") {
  for (const OpCase& c : model_ops()) check_op(c, 101);
}

TEST_CASE("bf16: element-wise results are the f32 result rounded to nearest even, bit for bit") {
  // Values near rounding ties: f32 results whose low 16 bits are near 0x8000
  // exercise the tie and the carry into the exponent.
  Tensor x = randn({4096}, 3, DType::F32, 4.0).to(DType::BF16);
  for (auto fn : {+[](const Tensor& t) { return silu(t); }, +[](const Tensor& t) { return sigmoid(t); },
                  +[](const Tensor& t) { return mul_scalar(t, 1.0 / 3.0); }}) {
    const std::vector<float> f32 = fn(x.to(DType::F32)).to_vector<float>();
    const std::vector<BFloat16> b16 = fn(x).to_vector<BFloat16>();
    REQUIRE(f32.size() == b16.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < f32.size(); ++i) mismatches += b16[i].bits != round_bits(f32[i]);
    CHECK(mismatches == 0);
  }
  // Ties go to even: 1 + 2^-8 lies halfway between bf16 1 and 1 + 2^-7.
  CHECK(BFloat16(1.0f + 1.0f / 256).bits == BFloat16(1.0f).bits);
  CHECK(BFloat16(1.0f + 3.0f / 256).bits == BFloat16(1.0f + 4.0f / 256).bits);
}

TEST_CASE("bf16: NaN propagates through the ops") {
  Tensor x = randn({2, 4, 3, 3}, 9, DType::F32).to(DType::BF16);
  Tensor w = randn({4, 4, 3, 3}, 10, DType::F32).to(DType::BF16);
  x.slice(2, 1, 2).slice(3, 1, 2).fill_(NAN);  // one pixel of every plane
  auto any_nan = [](const Tensor& t) {
    for (double v : values(t))
      if (std::isnan(v)) return true;
    return false;
  };
  CHECK(any_nan(silu(x)));
  CHECK(any_nan(conv2d(x, w, Tensor(), Conv2dOptions::symmetric(1))));
  CHECK(any_nan(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5)));
  CHECK(any_nan(sum(x)));
  CHECK(any_nan(softmax(x, 1)));
  CHECK(any_nan(upsample_bilinear2d(x, 5, 5, false)));
}

TEST_CASE("bf16: the rounding tolerance catches a kernel that does not round to nearest") {
  // A mutation of the store: truncating to bf16 (round toward zero) instead
  // of rounding to nearest doubles the worst error (2^-7), which
  // kBF16Rounding must reject; the correct rounding passes.
  Tensor x = randn({2048}, 4, DType::F32).to(DType::BF16);
  const Tensor f32 = silu(x.to(DType::F32));
  std::vector<float> v = f32.to_vector<float>();
  std::vector<BFloat16> truncated(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    truncated[i].bits = uint16_t(u >> 16);
  }
  CHECK_FALSE(all_close(Tensor::from_vector(truncated, f32.shape()), f32, tol::kBF16Rounding).ok);
  CHECK(all_close(silu(x), f32, tol::kBF16Rounding).ok);
  // And a kernel that computed in bf16 arithmetic (rounding inside the
  // formula) is caught too: silu as x * sigmoid(x) with sigmoid rounded first.
  const Tensor rounded_inside = mul(x, sigmoid(x));
  CHECK_FALSE(all_close(rounded_inside, f32, tol::kBF16Rounding).ok);
}

TEST_CASE("bf16: Tensor::to between f32, f64 and bf16 is differentiable") {
  Tensor x = randn({3, 5}, 12, DType::F32).set_requires_grad(true);
  Tensor y = x.to(DType::BF16);
  CHECK(y.dtype() == DType::BF16);
  const std::vector<float> xv = x.to_vector<float>();
  const std::vector<BFloat16> yv = y.to_vector<BFloat16>();
  for (size_t i = 0; i < xv.size(); ++i) CHECK(yv[i].bits == round_bits(xv[i]));
  Tensor g = randn({3, 5}, 13, DType::F32).to(DType::BF16);
  y.to(DType::F64).backward(g.to(DType::F64));
  REQUIRE(x.grad().defined());
  CHECK(x.grad().dtype() == DType::F32);
  CHECK_CLOSE(x.grad(), g.to(DType::F32), Tolerance{0, 0});  // bf16 -> f64 -> bf16 -> f32 is exact
}

TEST_CASE("bf16: mixed dtypes are refused with the op and the tensors named") {
  Tensor x = randn({2, 4, 3, 3}, 1, DType::F32).to(DType::BF16);
  Tensor x32 = randn({2, 4, 3, 3}, 2, DType::F32);
  CHECK_THROWS_WITH(add(x, x32), doctest::Contains("add"));
  CHECK_THROWS_WITH(add(x, x32), doctest::Contains("bf16[2, 4, 3, 3]"));
  CHECK_THROWS_WITH(conv2d(x, randn({4, 4, 3, 3}, 3, DType::F32), Tensor(), Conv2dOptions{}),
                    doctest::Contains("conv2d"));
  // BatchNorm takes f32 parameters beside a bf16 input, but not f64 ones.
  CHECK_THROWS_WITH(batch_norm(x, randn({4}, 4, DType::F64), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5),
                    doctest::Contains("f32 beside a bf16 input"));
  // Integer tensors are still refused by the float ops.
  CHECK_THROWS_WITH(silu(rand_int({4}, 0, 3, 5)), doctest::Contains("must be f32, f64 or bf16"));
}

TEST_CASE("bf16: BatchNorm's f32 running statistics are updated as in the f32 run") {
  Tensor x = randn({4, 3, 5, 5}, 21, DType::F32).to(DType::BF16);
  Tensor rm16 = Tensor::zeros({3}), rv16 = Tensor::full({3}, 1.0);
  Tensor rm32 = Tensor::zeros({3}), rv32 = Tensor::full({3}, 1.0);
  batch_norm(x, Tensor(), Tensor(), rm16, rv16, true, 0.1, 1e-5);
  batch_norm(x.to(DType::F32), Tensor(), Tensor(), rm32, rv32, true, 0.1, 1e-5);
  CHECK(rm16.dtype() == DType::F32);
  CHECK_CLOSE(rm16, rm32, Tolerance{0, 0});  // same f32 statistics of the same values
  CHECK_CLOSE(rv16, rv32, Tolerance{0, 0});
}
