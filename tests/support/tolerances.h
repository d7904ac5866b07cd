#pragma once
// The one table of numerical tolerances used by every test. A comparison
// passes when |actual - expected| <= atol + rtol * |expected| element-wise;
// NaN or Inf in either never passes.
namespace sono::test {

struct Tolerance {
  double rtol;
  double atol;
};

namespace tol {
// f64 kernel vs a plain f64 reference loop written in the test: only
// summation order differs.
inline constexpr Tolerance kForwardF64{1e-10, 1e-12};
// f32 kernel vs the f64 reference (inputs of order 1, sums up to ~1e4 terms).
inline constexpr Tolerance kForwardF32{2e-5, 2e-6};
// Analytic f64 gradient vs central finite differences with step 1e-6: the
// truncation error is O(eps^2 * f''') and the rounding error O(1e-16/eps).
inline constexpr Tolerance kGradcheckF64{1e-5, 1e-7};
inline constexpr double kGradcheckStep = 1e-6;
// CUDA vs CPU, f32, same algorithm up to summation order / fused multiply-add.
inline constexpr Tolerance kCudaVsCpuF32{1e-4, 1e-5};
// Whole-model parity with PyTorch (tests/model/test_parity.cpp; only rtol is
// used, as a bound on a max-norm relative error, see there):
// outputs, losses, features, buffers: max|a-b| / max|b| of the tensor;
// gradients: max|a-b| / max|b| over the tensor's group (encoder, decoder,
// head), because gradients that are 0 in theory hold only rounding noise.
inline constexpr Tolerance kParityOutput{1e-4, 0.0};
inline constexpr Tolerance kParityGrad{1e-3, 0.0};
// f64 normalization (batch_norm, group_norm) of inputs offset by 1e5 from
// zero: the inputs' own spacing (1.5e-11) bounds the agreement; a one-pass
// sum-of-squares variance would be off by ~1e-6 and fail.
inline constexpr Tolerance kForwardF64LargeOffset{1e-9, 1e-9};
// f32 weight/bias gradient vs an f64 reference: each entry sums ~1e3
// order-1 products over batch x space, so an entry near 0 by cancellation
// carries an absolute error ~ eps_f32 * |partial sums| * sqrt(terms) ~ 4e-5.
inline constexpr Tolerance kGradReductionF32{2e-5, 1e-4};
// Whole-model parity, AdamW step fed with PyTorch's gradients: max|p - p_ref|
// relative to the reference update max|p_ref - p_before| (~ lr): only the
// rounding of p (~ulp(1) = 1.2e-7 against lr >= 1e-4) separates them.
inline constexpr Tolerance kParityStep{1e-3, 0.0};
}  // namespace tol

}  // namespace sono::test
