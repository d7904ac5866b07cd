#pragma once
// Parameter initialisers drawing from a Philox Generator (seeded, so a model
// built twice with the same seed has identical weights on CPU and CUDA).
#include "core/philox.h"
#include "core/tensor.h"

namespace sono::nn::init {

// Fills t with U[lo, hi) (element i from word offset + i); advances gen by numel.
void uniform_(const Tensor& t, double lo, double hi, Generator& gen);

// fan_in of a weight [out, in, k...] = in * prod(k) (PyTorch's definition).
int64_t fan_in(const Tensor& weight);

// kaiming_uniform_(mode fan_in): U(+-gain * sqrt(3 / fan_in)).
void kaiming_uniform_(const Tensor& weight, double gain, Generator& gen);

// PyTorch's default for Conv/Linear: kaiming_uniform_(a = sqrt(5)), i.e.
// U(+-1/sqrt(fan_in)), and bias (when defined) U(+-1/sqrt(fan_in)).
void default_conv_linear_(const Tensor& weight, const Tensor& bias, Generator& gen);

// Gain of ReLU (sqrt(2)) for kaiming_uniform_(nonlinearity='relu').
inline constexpr double kReluGain = 1.4142135623730951;

}  // namespace sono::nn::init
