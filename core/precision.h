#pragma once
// The float32 math the CUDA libraries may use for convolutions (cuDNN) and
// matrix products (cuBLAS), set once per process (e.g. by `--precision`).
//
//   FP32: strict float32 (FMA math only). The process default, so the parity
//         and CUDA-vs-CPU tests compare like with like.
//   TF32: tensor-core TF32 (10-bit mantissa inputs, float32 accumulation),
//         PyTorch's default for convolutions on Ampere and later; what
//         `sono train|predict|bench` use on a GPU unless told otherwise.
//   BF16: mixed precision: the training step, validation and prediction run
//         under core/autocast.h's policy (convolutions and linear layers on
//         bfloat16 copies of the fp32 master weights, norms, losses and the
//         optimizer in fp32; docs/precision.md), on both devices. The float32
//         work left outside the policy computes in strict fp32.
//
// The CUDA backend reads FP32/TF32 for its float32 math; the CPU kernels
// always compute in strict float32, so on the CPU TF32 has no effect; float64
// work ignores it too. BF16 is read by whoever opens an AutocastGuard
// (train/step.cpp, train/inference.cpp, train/bn_calibration.cpp).
#include <string>

namespace sono {

enum class Precision { FP32, TF32, BF16 };

// "fp32", "tf32" or "bf16".
const char* precision_name(Precision p);
// Parses "fp32" / "tf32" / "bf16"; anything else throws sono::Error naming `what`
// (e.g. the option "--precision") and the accepted values.
Precision parse_precision(const std::string& s, const std::string& what = "precision");

// The process-wide setting (thread-safe); FP32 until set.
void set_precision(Precision p);
Precision precision();

}  // namespace sono
