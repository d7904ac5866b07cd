#pragma once
// Element-wise activations: y = f(x), same shape, f32 or f64.
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

Tensor silu(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);

enum class Activation { SiLU, ReLU, Sigmoid };

// ---- backends: x, y, gx contiguous and of equal shape ----------------------
SONO_BACKEND_FN(void, activation_forward, (Activation a, const Tensor& x, const Tensor& y));
// gx = gy * f'(.) where f' reads x (SiLU, ReLU) or y (Sigmoid).
SONO_BACKEND_FN(void, activation_backward,
                (Activation a, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx));

}  // namespace sono
