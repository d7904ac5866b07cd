// ops/cpu/vec_math.h against the exact functions in double, in ulps of the
// float result: every float x in (-128, -64] (underflow, denormals, zero),
// (-2, -1] (the zero of silu'), [1, 2) and [64, 128) (overflow), every
// 4099th bit pattern of all 2^32, and the special values. SONO_VEC_MATH_ALL=1
// runs the AVX2 path on every one of the 2^32 floats instead (minutes).
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/cpu/vec_math.h"
#include "ops/math.h"

namespace {

using namespace sono::cpu;

using Span = void (*)(const float*, float*, int64_t);

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

double ref_exp(double x) { return std::exp(x); }
double ref_sigmoid(double x) { return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x)); }
double ref_silu(double x) { return std::isinf(x) && x < 0 ? NAN : x * ref_sigmoid(x); }
double ref_silu_grad(double x) {
  if (std::isinf(x)) return NAN;  // inf * 0 inside, as ops/math.h
  const double s = ref_sigmoid(x);
  return s * (1 + x * (1 - s));
}

// silu'(x) = 0 at x = kRoot; within kRootWindow of it 1 + x (1 - s) cancels in
// float and only the absolute error kRootAbs is asserted there.
// ops/math.h's formula has no extra bits there: its window is wider, its error larger.
constexpr double kRoot = -1.2784645427610738, kRootWindow = 0.02, kRootAbs = 1e-9;
constexpr double kScalarRootWindow = 0.3, kScalarRootAbs = 4e-8;

// e^x < FLT_MIN below this.
constexpr float kDenormalExp = -87.3365479f;

// |got - want| in units of the float spacing at want (2^-149 in the denormals);
// 0 when both are the same NaN/inf/zero, infinity for a wrong NaN or inf.
double ulps(float got, double want) {
  if (std::isnan(want)) return std::isnan(got) ? 0 : INFINITY;
  const float wf = float(want);
  if (std::isinf(wf) || std::isnan(got) || std::isinf(got)) return got == wf ? 0 : INFINITY;
  int e;
  std::frexp(want, &e);  // |want| in [2^(e-1), 2^e)
  const double spacing = want == 0 ? std::ldexp(1.0, -149) : std::ldexp(1.0, std::max(e - 24, -149));
  return std::fabs(double(got) - want) / spacing;
}

struct Worst {
  double ulp = 0;  // outside the silu' root window
  float ulp_x = 0;
  double ulp_normal = 0;  // the same for x >= -87.33, where e^x (and sigmoid(x)) is a normal float
  double root_abs = 0;    // inside the window
  int64_t points = 0;
  std::string str() const {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "max %.3f ulp at x = %.9g, %.3f ulp for x >= -87.33 (%lld points), max abs error %.3g "
                  "near silu' root",
                  ulp, double(ulp_x), ulp_normal, (long long)points, root_abs);
    return buf;
  }
};

// Runs f on xs (as one span, so the tail path runs too) and folds its errors into w.
void measure(Span f, double (*ref)(double), double window, const std::vector<float>& xs, Worst& w) {
  std::vector<float> ys(xs.size());
  f(xs.data(), ys.data(), int64_t(xs.size()));
  for (size_t i = 0; i < xs.size(); ++i) {
    const double want = ref(double(xs[i]));
    if (ref == ref_silu_grad && std::fabs(double(xs[i]) - kRoot) < window) {
      const double abs = std::isnan(ys[i]) ? INFINITY : std::fabs(double(ys[i]) - want);
      w.root_abs = std::max(w.root_abs, abs);
      continue;
    }
    const double u = ulps(ys[i], want);
    if (!(u <= w.ulp)) w.ulp = u, w.ulp_x = xs[i];
    if (!(xs[i] < kDenormalExp) && !(u <= w.ulp_normal)) w.ulp_normal = u;
  }
  w.points += int64_t(xs.size());
}

// Calls visit(chunk) over the bit patterns [lo, hi) with the given stride, in chunks.
template <class V>
void sweep_bits(uint64_t lo, uint64_t hi, uint64_t stride, V visit) {
  std::vector<float> xs;
  xs.reserve(1 << 16);
  for (uint64_t b = lo; b < hi; b += stride) {
    xs.push_back(from_bits(uint32_t(b)));
    if (xs.size() == xs.capacity()) visit(xs), xs.clear();
  }
  if (!xs.empty()) visit(xs);
}

// Every float of magnitude in [|from|, |to|) and the sign of both.
template <class V>
void sweep_range(float from, float to, V visit) {
  sweep_bits(bits(from), bits(to), 1, visit);
}

const std::vector<float>& specials() {
  static const std::vector<float> v = {
      0.0f,    -0.0f,    INFINITY,     -INFINITY,     NAN,          -NAN,         FLT_MIN,     -FLT_MIN,
      FLT_MAX, -FLT_MAX, FLT_TRUE_MIN, -FLT_TRUE_MIN, 88.7228394f,  88.7228317f,  88.72284f,   89.0f,
      100.0f,  104.0f,   -87.3365479f, -88.0f,        -103.972076f, -103.972084f, -104.0f,     -150.0f,
      1e-30f,  -1e-30f,  0.5f,         -0.5f,         1.0f,         -1.0f,        float(kRoot)};
  return v;
}

bool every_float() {
  const char* all = std::getenv("SONO_VEC_MATH_ALL");
  return all && std::string(all) == "1";
}

Worst measure_all(Span f, double (*ref)(double), double window, bool allow_every_float) {
  Worst w;
  auto visit = [&](const std::vector<float>& xs) { measure(f, ref, window, xs, w); };
  visit(specials());
  if (allow_every_float && every_float()) {
    sweep_bits(0, uint64_t(1) << 32, 1, visit);
    return w;
  }
  sweep_range(-64.0f, -128.0f, visit);
  sweep_range(-1.0f, -2.0f, visit);
  sweep_range(1.0f, 2.0f, visit);
  sweep_range(64.0f, 128.0f, visit);
  sweep_bits(0, uint64_t(1) << 32, 4099, visit);
  return w;
}

void silu_backward_ones(const float* x, float* y, int64_t n) {
  std::vector<float> ones(size_t(n), 1.0f);
  vec::silu_backward(x, ones.data(), y, n);
}
void scalar_silu_backward_ones(const float* x, float* y, int64_t n) {
  std::vector<float> ones(size_t(n), 1.0f);
  vec::scalar::silu_backward(x, ones.data(), y, n);
}

}  // namespace

TEST_CASE("vec_math: exp, sigmoid, silu, silu' within 2 ulp over the edges and a sweep of all floats") {
  const std::string path =
      vec::kAvx2 ? "vec:: is the AVX2+FMA path" : "vec:: is the scalar fallback (built without AVX2/FMA)";
  MESSAGE(path);
  struct Fn {
    const char* name;
    Span vector, scalar;
    double (*ref)(double);
    double scalar_ulp;  // ops/math.h's accuracy for x >= -87.33
  };
  for (const Fn& fn : {Fn{"exp", vec::exp, vec::scalar::exp, ref_exp, 2.0},
                       Fn{"sigmoid", vec::sigmoid, vec::scalar::sigmoid, ref_sigmoid, 2.0},
                       Fn{"silu", vec::silu_forward, vec::scalar::silu_forward, ref_silu, 2.0},
                       Fn{"silu'", silu_backward_ones, scalar_silu_backward_ones, ref_silu_grad, 6.0}}) {
    if (vec::kAvx2) {
      const Worst w = measure_all(fn.vector, fn.ref, kRootWindow, true);
      const std::string report = std::string("AVX2 ") + fn.name + ": " + w.str();
      MESSAGE(report);
      CHECK_MESSAGE(w.ulp <= 2.0, report);
      CHECK_MESSAGE(w.root_abs <= kRootAbs, report);
    }
    // ops/math.h in float: x * sigmoid(x) multiplies a rounded sigmoid, which
    // below x = -87.33 is a denormal with few bits (silu 52 ulp at x = -104);
    // silu' = s (1 + x (1 - s)) loses bits in 1 - s for large x (4.3 ulp) and
    // cancels near its root (within 0.3 of it, 2.3e-8 absolute).
    const Worst w = measure_all(fn.scalar, fn.ref, kScalarRootWindow, false);
    const std::string report = std::string("scalar ") + fn.name + ": " + w.str();
    MESSAGE(report);
    CHECK_MESSAGE(w.ulp_normal <= fn.scalar_ulp, report);
    CHECK_MESSAGE(w.root_abs <= kScalarRootAbs, report);
  }
}

TEST_CASE("vec_math: special values") {
  std::vector<float> x = {INFINITY, -INFINITY, NAN, 88.73f, -104.0f, -90.0f, 0.0f, -0.0f};
  std::vector<float> e(x.size()), s(x.size()), si(x.size());
  vec::exp(x.data(), e.data(), int64_t(x.size()));
  vec::sigmoid(x.data(), s.data(), int64_t(x.size()));
  vec::silu_forward(x.data(), si.data(), int64_t(x.size()));
  CHECK(e[0] == INFINITY);
  CHECK(e[1] == 0.0f);
  CHECK(std::isnan(e[2]));
  CHECK(e[3] == INFINITY);
  CHECK(e[4] == 0.0f);
  CHECK(e[6] == 1.0f);
  CHECK(e[7] == 1.0f);
  CHECK(s[0] == 1.0f);
  CHECK(s[1] == 0.0f);
  CHECK(std::isnan(s[2]));
  CHECK(s[6] == 0.5f);
  CHECK(si[0] == INFINITY);
  CHECK(std::isnan(si[1]));  // -inf * sigmoid(-inf) = -inf * 0, as ops/math.h
  CHECK(std::isnan(si[2]));
  if (vec::kAvx2) {
    CHECK(e[5] > 0.0f);  // e^-90 = 8.2e-40: a denormal, not flushed
    CHECK(e[5] < FLT_MIN);
    CHECK(s[5] == e[5]);  // sigmoid(x) = e^x / (1 + e^x) = e^x in float for x << 0
  }
}

TEST_CASE("vec_math: spans work in place and at every tail length") {
  for (int64_t n = 0; n <= 19; ++n) {
    const size_t len = size_t(n);
    std::vector<float> x(len), want(len), got(len), gy(len, 0.75f);
    for (int64_t i = 0; i < n; ++i) x[size_t(i)] = float(i) * 0.37f - 3.0f;
    // an element's result must not depend on its place in the span: compare with single-element spans
    for (Span f : {Span(vec::exp), Span(vec::sigmoid), Span(vec::silu_forward)}) {
      for (int64_t i = 0; i < n; ++i) f(&x[size_t(i)], &want[size_t(i)], 1);
      got = x;
      f(got.data(), got.data(), n);
      CHECK(got == want);
    }
    for (int64_t i = 0; i < n; ++i) vec::silu_backward(&x[size_t(i)], &gy[size_t(i)], &want[size_t(i)], 1);
    got = gy;
    vec::silu_backward(x.data(), got.data(), got.data(), n);
    CHECK(got == want);
  }
}

TEST_CASE("vec_math: the scalar fallback is ops/math.h") {
  sweep_bits(0, uint64_t(1) << 32, 65537, [](const std::vector<float>& xs) {
    const int64_t n = int64_t(xs.size());
    std::vector<float> e(xs.size()), s(xs.size()), si(xs.size()), g(xs.size());
    vec::scalar::exp(xs.data(), e.data(), n);
    vec::scalar::sigmoid(xs.data(), s.data(), n);
    vec::scalar::silu_forward(xs.data(), si.data(), n);
    scalar_silu_backward_ones(xs.data(), g.data(), n);
    for (size_t i = 0; i < xs.size(); ++i) {
      const float x = xs[i];
      auto same = [](float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; };
      REQUIRE(same(e[i], std::exp(x)));
      REQUIRE(same(s[i], sono::math::sigmoid(x)));
      REQUIRE(same(si[i], sono::math::silu(x)));
      REQUIRE(same(g[i], sono::math::silu_grad(x)));
    }
  });
}
