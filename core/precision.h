#pragma once
// The float32 math the CUDA libraries may use for convolutions (cuDNN) and
// matrix products (cuBLAS), set once per process (e.g. by `--precision`).
//
//   FP32: strict float32 (FMA math only). The process default, so the parity
//         and CUDA-vs-CPU tests compare like with like.
//   TF32: tensor-core TF32 (10-bit mantissa inputs, float32 accumulation),
//         PyTorch's default for convolutions on Ampere and later; what
//         `sono train|predict|bench` use on a GPU unless told otherwise.
//
// Only the CUDA backend reads it. The CPU kernels always compute in strict
// float32, so on the CPU TF32 has no effect; float64 work ignores it too.
#include <string>

namespace sono {

enum class Precision { FP32, TF32 };

// "fp32" or "tf32".
const char* precision_name(Precision p);
// Parses "fp32" / "tf32"; anything else throws sono::Error naming `what`
// (e.g. the option "--precision") and the accepted values.
Precision parse_precision(const std::string& s, const std::string& what = "precision");

// The process-wide setting (thread-safe); FP32 until set.
void set_precision(Precision p);
Precision precision();

}  // namespace sono
