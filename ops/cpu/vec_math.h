#pragma once
// f32 exp, sigmoid and SiLU (forward and backward) over contiguous spans, for the
// CPU kernels (activation, softmax, Dice, BCE, and any fused op). y may alias x
// (in place). The formulas are ops/math.h's; these are its fast float versions.
//
// Path: chosen at build time. With AVX2 and FMA enabled for the compiler
// (__AVX2__ && __FMA__, which CMake's Release flags -march=x86-64-v3 turn on for
// every file) the spans run 8-wide kernels; otherwise (a Debug build, or another
// -march) the loops over ops/math.h below. Run-time dispatch would buy nothing:
// a Release build already needs an AVX2 CPU for its auto-vectorised loops.
//
// Accuracy of the AVX2 path against the exact result, measured in double by
// tests/ops/test_vec_math.cpp (every float of four binades, a sweep of all bit
// patterns, the special values): exp 0.97 ulp, sigmoid 0.97 ulp, silu 1.06 ulp,
// silu' (silu_backward with gy = 1) 1.74 ulp, except within 0.02 of the zero of
// silu'(x) at x = -1.27846, where relative error is meaningless and the absolute
// error is below 1e-9 (ops/math.h's float formula is off by ~1e-8 there).
// sigmoid, silu and silu' are each one quotient of float pairs (hi + lo), not
// compositions of a rounded exp, which is what keeps them near 1 ulp.
//
// Special values: NaN gives NaN; exp(+inf) = inf, exp(x > 88.72) = inf,
// exp(-inf) = 0; results below FLT_MIN (x in [-103.97, -87.34]) are the
// gradual-underflow denormals, not flushed to zero (with FTZ/DAZ unset, which
// Sono never sets), and exp(x < -103.97) = 0. sigmoid is computed from
// exp(-|x|), so sigmoid(x) for x < -87.34 is a denormal (the scalar
// 1 / (1 + exp(-x)) gives 0 there) and sigmoid(-inf) = 0, sigmoid(+inf) = 1.
// silu(+inf) = inf and silu(-inf) = NaN (-inf * 0, as the scalar formula);
// silu'(+-inf) = NaN as the scalar formula; silu and silu' are -0 for x < -120.
#include <cstdint>

namespace sono::cpu::vec {

#if defined(__AVX2__) && defined(__FMA__)
inline constexpr bool kAvx2 = true;
#else
inline constexpr bool kAvx2 = false;
#endif

void exp(const float* x, float* y, int64_t n);
// std::exp, so that kernels templated on the scalar type call vec::exp for both.
void exp(const double* x, double* y, int64_t n);
void sigmoid(const float* x, float* y, int64_t n);
void silu_forward(const float* x, float* y, int64_t n);
// gx = gy * silu'(x); gx may alias x or gy.
void silu_backward(const float* x, const float* gy, float* gx, int64_t n);

// The same spans as plain loops over ops/math.h: what a build without AVX2 runs,
// and the tests' second path.
namespace scalar {
void exp(const float* x, float* y, int64_t n);
void sigmoid(const float* x, float* y, int64_t n);
void silu_forward(const float* x, float* y, int64_t n);
void silu_backward(const float* x, const float* gy, float* gx, int64_t n);
}  // namespace scalar

}  // namespace sono::cpu::vec
