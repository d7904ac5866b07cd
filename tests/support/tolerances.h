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
// Whole-model parity with PyTorch (issue: relative 1e-4 for outputs/losses,
// 1e-3 for gradients and updated parameters, relative to the tensor's max-abs).
inline constexpr Tolerance kParityOutput{1e-4, 0.0};
inline constexpr Tolerance kParityGrad{1e-3, 0.0};
}  // namespace tol

}  // namespace sono::test
