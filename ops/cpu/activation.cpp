// CPU SiLU, ReLU and sigmoid, element-wise over contiguous tensors of equal
// shape (the formulas are ops/math.h, shared with CUDA). Forward overwrites y
// with f(x); backward overwrites gx with gy * f'(x), taking f' from x (SiLU,
// ReLU) or from the saved output y (sigmoid).
#include "ops/activation.h"
#include "ops/math.h"

namespace sono::cpu {

void activation_forward(Activation a, const Tensor& x, const Tensor& y) {
  dispatch_float(x.dtype(), "activation", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* in = x.data<scalar_t>();
    scalar_t* out = y.data<scalar_t>();
    const int64_t n = x.numel();
    switch (a) {
      case Activation::SiLU:
#pragma omp parallel for simd if (n > 32768)
        for (int64_t i = 0; i < n; ++i) out[i] = math::silu(in[i]);
        break;
      case Activation::ReLU:
#pragma omp parallel for simd if (n > 32768)
        for (int64_t i = 0; i < n; ++i) out[i] = math::relu(in[i]);
        break;
      case Activation::Sigmoid:
#pragma omp parallel for simd if (n > 32768)
        for (int64_t i = 0; i < n; ++i) out[i] = math::sigmoid(in[i]);
        break;
    }
  });
}

void activation_backward(Activation a, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx) {
  dispatch_float(gy.dtype(), "activation_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* g = gy.data<scalar_t>();
    scalar_t* out = gx.data<scalar_t>();
    const int64_t n = gy.numel();
    switch (a) {
      case Activation::SiLU: {
        const scalar_t* in = x.data<scalar_t>();
#pragma omp parallel for simd if (n > 32768)
        for (int64_t i = 0; i < n; ++i) out[i] = g[i] * math::silu_grad(in[i]);
        break;
      }
      case Activation::ReLU: {
        const scalar_t* in = x.data<scalar_t>();
#pragma omp parallel for simd if (n > 32768)
        for (int64_t i = 0; i < n; ++i) out[i] = g[i] * math::relu_grad(in[i]);
        break;
      }
      case Activation::Sigmoid: {
        const scalar_t* o = y.data<scalar_t>();
#pragma omp parallel for simd if (n > 32768)
        for (int64_t i = 0; i < n; ++i) out[i] = g[i] * math::sigmoid_grad_from_output(o[i]);
        break;
      }
    }
  });
}

}  // namespace sono::cpu
