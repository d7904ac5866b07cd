#pragma once
// Element-wise activations: y = f(x), same shape, f32 or f64.
#include "core/tensor.h"

namespace sono {

Tensor silu(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);

enum class Activation { SiLU, ReLU, Sigmoid };

// ---- backends: x, y, gx contiguous and of equal shape ----------------------
namespace cpu {
void activation_forward(Activation a, const Tensor& x, const Tensor& y);
// gx = gy * f'(.) where f' reads x (SiLU, ReLU) or y (Sigmoid).
void activation_backward(Activation a, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx);
}  // namespace cpu
#if SONO_WITH_CUDA
namespace cuda {
void activation_forward(Activation a, const Tensor& x, const Tensor& y);
void activation_backward(Activation a, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx);
}  // namespace cuda
#endif

}  // namespace sono
