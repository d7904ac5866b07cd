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
// Strict FP32 on both sides (Precision::FP32, core/precision.h).
inline constexpr Tolerance kCudaVsCpuF32{1e-4, 1e-5};
// CUDA in Precision::TF32 (cuDNN and cuBLAS on tensor cores) vs the CPU's
// strict f32, outputs and gradients of order 1 (weights scaled like an init):
// TF32 keeps 10 mantissa bits of each operand (error <= 2^-10 relative when
// truncated), so a product is off by ~1e-3 of itself and a sum of K such
// terms of size 1/sqrt(K) by ~1e-3 absolute, ~4e-3 at the worst of ~1e4
// outputs; accumulation stays f32. A wrong kernel is off by O(1).
inline constexpr Tolerance kCudaVsCpuTF32{5e-3, 1e-2};
// Whole-model parity with PyTorch (tests/model/test_parity.cpp, which
// defines the norms: max-abs errors relative to a tensor's max-abs, to its
// group's for gradients, to the layer's running std for running_mean). f32
// fixtures: outputs, losses, features, buffers at kParityOutput; gradients at
// kParityGrad where no ReLU lies between the parameter and the loss.
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
// Whole-model parity, AdamW step fed with PyTorch's gradients: rtol of the
// reference update max|p_ref - p_before| (~ lr); atol as a fraction of
// max|p_ref|: one f32 ulp (2^-23), as both sides round p + update to f32
// (BN weights at 1.0001 have an ulp of 1.2e-7, 1.2e-3 of an lr of 1e-4).
inline constexpr Tolerance kParityStep{1e-3, 1.0 / 8388608.0};
// Whole-model parity, f32, gradients of parameters below a ReLU (decoder and
// encoder of segmentation/detection, the detection head): a ReLU input within
// the f32 forward error of 0 (~5e-5 absolute in the decoder, from the
// encoder's accumulated ~1e-5 relative error, same size in PyTorch's own f32
// vs f64) takes the other branch in one implementation: 4 such elements in
// Sono, 1 in PyTorch, against float64 for cardiac_multi. As those gradients
// are sums of ~1e4 cancelling per-pixel terms, one flipped element moves
// them by up to ~4e-3 of their group's scale. In float64 nothing flips and
// Sono matches PyTorch to 1e-13, checked (stored as f32) at kParityF64.
inline constexpr Tolerance kParityGradF32Relu{1e-2, 0.0};
// A Conv2d + eval-mode BatchNorm2d folded into one convolution
// (model/fold_batchnorm.h), f32, max-abs error relative to the output's
// max-abs: the folded weights are rounded to f32 once (<= 6e-8 relative), and
// both sides sum up to ~600 products in different orders.
inline constexpr Tolerance kFoldedBatchNormF32{1e-5, 0.0};
// An exported ONNX model run by ONNX Runtime vs Sono's forward, f32, same
// weights and inputs (tests/export/): max-abs error relative to the output's
// max-abs. ONNX Runtime's kernels (MLAS convolutions, its own resize and
// instance norm) sum in other orders than Sono's through ~300 layers, and the
// folded BatchNorm rounds once more, as kParityOutput against PyTorch.
inline constexpr Tolerance kOnnxRuntime{1e-4, 0.0};
// Whole-model parity against the float64 fixtures (computed in double, stored
// as float32): every comparison, same norms; the storage rounding (<= 6e-8
// relative) is the only expected difference.
inline constexpr Tolerance kParityF64{1e-6, 0.0};
// Whole training step, CUDA vs CPU, f32, same weights, inputs and dropout
// masks (tests/train/cuda/test_train_cuda.cpp), max-abs error relative to the
// tensor's max-abs. Outputs and losses: kCudaVsCpuF32's per-op differences
// (summation order, FMA; TF32 is off in cuBLAS and cuDNN) accumulated through
// ~400 layers of B4. Gradients: as kParityGradF32Relu, a ReLU input within
// that error of 0 takes the other branch on one device and moves a
// cancelling sum by up to ~1e-2 of its tensor's scale.
inline constexpr Tolerance kCudaVsCpuModel{1e-3, 0.0};
inline constexpr Tolerance kCudaVsCpuModelGrad{1e-2, 0.0};
// The AdamW step after it: rtol in units of lr, atol relative to the
// parameter (4 f32 ulps, both devices round p + update to f32). Entries whose
// gradient is ~0 may take the other sign (checked separately, as a share).
inline constexpr Tolerance kCudaVsCpuModelStep{1e-2, 4.0 / 8388608.0};
// 20 training steps (b0, 64x64) through train_model on each device: the
// step-1 differences above compound through 19 AdamW updates, so the logged
// losses drift apart slowly; a wrong kernel changes them at once by O(1).
inline constexpr Tolerance kCudaVsCpuLossCurve{3e-2, 1e-3};
// Caching allocator: allocated/reserved bytes after step 200 vs after step
// 20 of the same rotation of batches; one 2 MiB size-class block of slack.
inline constexpr double kCudaMemorySlackMiB = 2.0;
// bf16 storage (docs/precision.md): an op in bf16 against the same op in f32
// on the same, bf16-representable values (tests/ops/test_bf16.cpp). bf16
// keeps 8 significant bits (7 stored), so rounding to nearest even moves a
// value by at most half its spacing, 2^-8 of itself (normal range; bf16 has
// f32's exponents). kBF16Rounding: one such rounding of the f32 result, what
// every op whose bf16 result is one kernel's output must meet (the CPU
// kernels compute in f32 on the widened values, conv/GEMM sums and
// statistics included, and round once at the store).
inline constexpr Tolerance kBF16Rounding{1.0 / 256.0, 0.0};
// Gradients that chain bf16 ops: div's divisor gradient -g * ((a / b) / b)
// rounds three times, <= 3 * 2^-8 relative; a broadcast operand's gradient
// sums K rounded products (then rounds): |error| <= 2^-8 (sum |terms| + |sum|),
// which cancellation can make large against |sum|. With the test's N(0, 1)
// terms the K rounding errors add like a random walk, rms ~ 2^-8 sqrt(K) / 3,
// so 8 * 2^-8 absolute is ~4 standard deviations at K = 72; a wrong kernel
// is off by O(1).
inline constexpr Tolerance kBF16Chain{3.0 / 256.0, 8.0 / 256.0};
// Gradients taken from the op's rounded bf16 output (sigmoid y (1 - y),
// softmax y (gy - sum gy y), log_softmax gy - exp(y) sum gy), as PyTorch's:
// y is off by 2^-8 |y|, and the cancellation in 1 - y or in the difference
// turns that into an absolute error of 2^-8 times the gradient's scale (|gy|,
// or |sum gy| / e for log_softmax), below 4 * 2^-8 for the test's N(0, 1)
// upstream gradients over at most 8 classes.
inline constexpr Tolerance kBF16FromOutput{1.0 / 256.0, 4.0 / 256.0};
}  // namespace tol

}  // namespace sono::test
