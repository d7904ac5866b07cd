// The spans of ops/cpu/vec_math.h. AVX2 path: exp by Cody-Waite reduction
// x = q ln2 + r, |r| <= ln2/2, with ln2 split so that q * ln2_hi is exact, then
// SLEEF's degree-7 minimax polynomial for e^r (its expf_u10 coefficients) and
// 2^q applied as two factors so that denormal results round once. The tail of
// a span goes through masked loads and stores, so an element's result does not
// depend on its position.
#include "ops/cpu/vec_math.h"

#include "ops/math.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace sono::cpu::vec {

void exp(const double* x, double* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}

namespace scalar {
void exp(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]);
}
void sigmoid(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = math::sigmoid(x[i]);
}
void silu_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = math::silu(x[i]);
}
void silu_backward(const float* x, const float* gy, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gx[i] = gy[i] * math::silu_grad(x[i]);
}
}  // namespace scalar

#if defined(__AVX2__) && defined(__FMA__)

namespace {

inline __m256 splat(float v) { return _mm256_set1_ps(v); }

// e^x = 2^q (1 + tp), |tp| < 1: q = round(x / ln2), r = x - q ln2 and tp =
// e^r - 1 by the polynomial; see the file comment. exp8 and exp_negative share it.
struct Reduced {
  __m256 q, tp;
};
inline Reduced exp_reduce(__m256 x) {
  const __m256 q =
      _mm256_round_ps(_mm256_mul_ps(x, splat(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // 0.693145751953125 has 12 significant bits: q * it is exact for |q| < 2^12.
  __m256 r = _mm256_fmadd_ps(q, splat(-0.693145751953125f), x);
  r = _mm256_fmadd_ps(q, splat(-1.428606765330187045e-06f), r);
  __m256 u = splat(0.000198527617612853646278381f);
  u = _mm256_fmadd_ps(u, r, splat(0.00139304355252534151077271f));
  u = _mm256_fmadd_ps(u, r, splat(0.00833336077630519866943359f));
  u = _mm256_fmadd_ps(u, r, splat(0.0416664853692054748535156f));
  u = _mm256_fmadd_ps(u, r, splat(0.166666671633720397949219f));
  u = _mm256_fmadd_ps(u, r, splat(0.5f));
  return {q, _mm256_fmadd_ps(_mm256_mul_ps(r, r), u, r)};
}

// 2^q = p1 * p2 with p1 = 2^q1, p2 = 2^q2, |q1|, |q2| <= 75: both factors are
// normal floats for |q| <= 150.
struct TwoPowers {
  __m256 p1, p2;
};
inline TwoPowers two_powers(__m256 q) {
  const __m256i qi = _mm256_cvtps_epi32(q);
  const __m256i q1 = _mm256_srai_epi32(qi, 1), q2 = _mm256_sub_epi32(qi, q1);
  const __m256i bias = _mm256_set1_epi32(127);
  return {_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(q1, bias), 23)),
          _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(q2, bias), 23))};
}

// e^x for 8 floats; see the file comment.
inline __m256 exp8(__m256 x) {
  const Reduced red = exp_reduce(x);
  __m256 u = _mm256_add_ps(splat(1.0f), red.tp);
  // The range checks below leave |x| <= 104, so |q| <= 150.
  const TwoPowers p = two_powers(red.q);
  u = _mm256_mul_ps(u, p.p1);
  u = _mm256_mul_ps(u, p.p2);
  // Beyond these, q is out of range (or NaN's); e^x is 0 below -103.97 (half the
  // smallest denormal) and inf above 88.72. NaN fails both compares and stays NaN.
  u = _mm256_andnot_ps(_mm256_cmp_ps(x, splat(-104.0f), _CMP_LT_OQ), u);
  return _mm256_blendv_ps(u, splat(INFINITY), _mm256_cmp_ps(x, splat(100.0f), _CMP_GT_OQ));
}

inline __m256 negative8(__m256 x) { return _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ); }

// A float pair hi + lo holding more bits than one float.
struct Pair {
  __m256 hi, lo;
};
// a + b exactly (Knuth's two-sum).
inline Pair two_sum(__m256 a, __m256 b) {
  const __m256 s = _mm256_add_ps(a, b), bb = _mm256_sub_ps(s, a);
  return {s, _mm256_add_ps(_mm256_sub_ps(a, _mm256_sub_ps(s, bb)), _mm256_sub_ps(b, bb))};
}
// a + b exactly when |a| >= |b| (or a = 0).
inline Pair fast_two_sum(__m256 a, __m256 b) {
  const __m256 s = _mm256_add_ps(a, b);
  return {s, _mm256_sub_ps(b, _mm256_sub_ps(s, a))};
}
// a * b to about 2^-46 relative.
inline Pair mul(Pair a, Pair b) {
  const __m256 p = _mm256_mul_ps(a.hi, b.hi);
  const __m256 err = _mm256_fmadd_ps(a.hi, b.hi, _mm256_sub_ps(_mm256_setzero_ps(), p));
  return {p, _mm256_fmadd_ps(a.hi, b.lo, _mm256_fmadd_ps(a.lo, b.hi, err))};
}
// n / d rounded once (to within a hair): the first quotient corrected by its
// remainder, which needs only the 12-bit reciprocal since it is ~2^-24 of q0.
inline __m256 div(Pair n, Pair d) {
  const __m256 q0 = _mm256_div_ps(n.hi, d.hi);
  const __m256 rem = _mm256_fnmadd_ps(q0, d.lo, _mm256_add_ps(_mm256_fnmadd_ps(q0, d.hi, n.hi), n.lo));
  return _mm256_fmadd_ps(rem, _mm256_rcp_ps(d.hi), q0);
}

// e^t for t = -|x| <= 0 as m * 2^q, m = hi + lo in [0.7, 1.42] to ~2^-28 and
// 2^q = p1 * p2. sigmoid and SiLU apply 2^q last, so that a denormal result is
// rounded once. t is clamped at -120 (e^-120 * 120 is below half the smallest
// denormal); NaN passes the clamp (max returns its second operand on NaN).
struct ExpParts {
  Pair m;
  __m256 p1, p2;
  Pair e;  // m * 2^q, e.lo dropped where it underflows
};
inline ExpParts exp_negative(__m256 x) {
  const __m256 t = _mm256_max_ps(splat(-120.0f), _mm256_or_ps(x, splat(-0.0f)));
  const Reduced red = exp_reduce(t);
  const __m256 tp = red.tp;  // |tp| < 1: fast two-sum
  const __m256 hi = _mm256_add_ps(splat(1.0f), tp);
  ExpParts e;
  e.m = {hi, _mm256_add_ps(_mm256_sub_ps(splat(1.0f), hi), tp)};
  const TwoPowers p = two_powers(red.q);
  e.p1 = p.p1;
  e.p2 = p.p2;
  e.e = {_mm256_mul_ps(_mm256_mul_ps(e.m.hi, e.p1), e.p2), _mm256_mul_ps(_mm256_mul_ps(e.m.lo, e.p1), e.p2)};
  return e;
}

// 1 + e for e <= 1, as a pair.
inline Pair one_plus(Pair e) {
  const __m256 d = _mm256_add_ps(splat(1.0f), e.hi);
  return {d, _mm256_add_ps(_mm256_add_ps(_mm256_sub_ps(splat(1.0f), d), e.hi), e.lo)};
}

// q * 2^q of e where mask is set, q elsewhere; two factors, one rounding.
inline __m256 scale_where(__m256 mask, __m256 q, const ExpParts& e) {
  q = _mm256_mul_ps(q, _mm256_blendv_ps(splat(1.0f), e.p1, mask));
  return _mm256_mul_ps(q, _mm256_blendv_ps(splat(1.0f), e.p2, mask));
}

// With e = e^-|x|: sigmoid(x) = 1 / (1 + e) for x >= 0 and m / (1 + e) * 2^q for x < 0.
inline __m256 sigmoid8(__m256 x) {
  const ExpParts e = exp_negative(x);
  const __m256 neg = negative8(x);
  const Pair n = {_mm256_blendv_ps(splat(1.0f), e.m.hi, neg), _mm256_and_ps(e.m.lo, neg)};
  return scale_where(neg, div(n, one_plus(e.e)), e);
}

// x < -120 but not -inf: where silu and silu' are -0 (their e^x factor is
// clamped at e^-120, the x factor is not).
inline __m256 below_clamp(__m256 x) {
  return _mm256_and_ps(_mm256_cmp_ps(x, splat(-120.0f), _CMP_LT_OQ), _mm256_cmp_ps(x, splat(-INFINITY), _CMP_GT_OQ));
}

// silu(x) = x / (1 + e) for x >= 0 and x m / (1 + e) * 2^q for x < 0.
// silu(-inf) = -inf * 0 = NaN as in ops/math.h: here x m has a NaN low part.
inline __m256 silu8(__m256 x) {
  const ExpParts e = exp_negative(x);
  const __m256 neg = negative8(x);
  const Pair xm = mul({x, _mm256_setzero_ps()}, e.m);
  const Pair n = {_mm256_blendv_ps(x, xm.hi, neg), _mm256_and_ps(xm.lo, neg)};
  __m256 y = scale_where(neg, div(n, one_plus(e.e)), e);
  y = _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, splat(INFINITY), _CMP_EQ_OQ));  // inf / 1 (the remainder is NaN)
  return _mm256_blendv_ps(y, splat(-0.0f), below_clamp(x));
}

// silu'(x) = s (1 + x (1 - s)) as one quotient over (1 + e)^2:
// x >= 0: (1 + e (1 + x)); x < 0: m (1 + x + e) * 2^q. The x < 0 numerator
// vanishes at x = -1.27846; its pairs keep it accurate to ~1e-9 absolute.
// silu'(+-inf) = NaN, as ops/math.h (inf * 0 inside).
inline __m256 silu_grad8(__m256 x) {
  const ExpParts e = exp_negative(x);
  const __m256 neg = negative8(x);
  const Pair d = one_plus(e.e);
  const Pair d2 = mul(d, d);
  // x >= 0: 1 + (e + x e), e + x e <= 1
  const __m256 a = _mm256_fmadd_ps(x, e.e.hi, e.e.hi);
  const __m256 np_hi = _mm256_add_ps(splat(1.0f), a);
  const __m256 np_lo =
      _mm256_add_ps(_mm256_add_ps(_mm256_sub_ps(splat(1.0f), np_hi), a), _mm256_fmadd_ps(x, e.e.lo, e.e.lo));
  // x < 0: m ((1 + x) + e)
  const Pair b = two_sum(splat(1.0f), x);
  const Pair c0 = two_sum(b.hi, e.e.hi);
  const Pair c = fast_two_sum(c0.hi, _mm256_add_ps(c0.lo, _mm256_add_ps(b.lo, e.e.lo)));
  const Pair nn = mul(e.m, c);
  const Pair n = {_mm256_blendv_ps(np_hi, nn.hi, neg), _mm256_blendv_ps(np_lo, nn.lo, neg)};
  return _mm256_blendv_ps(scale_where(neg, div(n, d2), e), splat(-0.0f), below_clamp(x));
}

// Lanes i < n of the mask are set.
inline __m256i tail_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// y[i] = f(x[i]...) over n elements of one or more inputs; the tail through
// masked loads and stores. Every load of a step comes before its store, so y
// may alias an input.
template <class F, class... X>
void map8(F f, float* y, int64_t n, const X*... x) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)...));
  if (i < n) {
    const __m256i m = tail_mask(n - i);
    _mm256_maskstore_ps(y + i, m, f(_mm256_maskload_ps(x + i, m)...));
  }
}

inline __m256 silu_backward8(__m256 x, __m256 gy) { return _mm256_mul_ps(gy, silu_grad8(x)); }

}  // namespace

void exp(const float* x, float* y, int64_t n) { map8(exp8, y, n, x); }
void sigmoid(const float* x, float* y, int64_t n) { map8(sigmoid8, y, n, x); }
void silu_forward(const float* x, float* y, int64_t n) { map8(silu8, y, n, x); }
void silu_backward(const float* x, const float* gy, float* gx, int64_t n) { map8(silu_backward8, gx, n, x, gy); }

#else

void exp(const float* x, float* y, int64_t n) { scalar::exp(x, y, n); }
void sigmoid(const float* x, float* y, int64_t n) { scalar::sigmoid(x, y, n); }
void silu_forward(const float* x, float* y, int64_t n) { scalar::silu_forward(x, y, n); }
void silu_backward(const float* x, const float* gy, float* gx, int64_t n) { scalar::silu_backward(x, gy, gx, n); }

#endif

}  // namespace sono::cpu::vec
