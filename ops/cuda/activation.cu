// Element-wise activations on a cuda device (see ops/activation.h).
//
// Math (ops/math.h, shared with the CPU kernels):
//   forward   y = f(x)                f = silu | relu | sigmoid
//   backward  gx = gy * f'(x)         silu, relu (relu'(0) = 0)
//             gx = gy * y * (1 - y)   sigmoid, from its output
// Layout: x, y, gy, gx contiguous, equal shape, f32, f64 or bf16 (loaded as
// float, the math in float, stored rounded to nearest even).
// Launch: one grid-stride loop over the elements (parallel_for).
// Outputs: y (forward) and gx (backward) are overwritten, never accumulated.
#include "core/cuda/launch.h"
#include "ops/activation.h"
#include "ops/math.h"

namespace sono::cuda {

namespace {

struct SiLU {
  template <class T>
  __device__ T operator()(T x) const {
    return math::silu(x);
  }
};
struct ReLU {
  template <class T>
  __device__ T operator()(T x) const {
    return math::relu(x);
  }
};
struct Sigmoid {
  template <class T>
  __device__ T operator()(T x) const {
    return math::sigmoid(x);
  }
};
struct SiLUGrad {
  template <class T>
  __device__ T operator()(T x) const {
    return math::silu_grad(x);
  }
};
struct ReLUGrad {
  template <class T>
  __device__ T operator()(T x) const {
    return math::relu_grad(x);
  }
};
struct SigmoidGradFromOutput {
  template <class T>
  __device__ T operator()(T y) const {
    return math::sigmoid_grad_from_output(y);
  }
};

template <class T, class F>
struct Map {  // out = f(in)
  const T* in;
  T* out;
  F f;
  __device__ void operator()(int64_t i) const { out[i] = scalar_cast<T>(f(compute_t<T>(in[i]))); }
};

template <class T, class F>
struct MapGrad {  // gx = gy * f'(in)
  const T* in;
  const T* gy;
  T* gx;
  F f;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    gx[i] = scalar_cast<T>(C(gy[i]) * f(C(in[i])));
  }
};

template <class T, class F>
void map(const Tensor& in, const Tensor& out, F f) {
  parallel_for(out.device().index, out.numel(), Map<T, F>{in.data<T>(), out.data<T>(), f});
}

template <class T, class F>
void map_grad(const Tensor& in, const Tensor& gy, const Tensor& gx, F f) {
  parallel_for(gx.device().index, gx.numel(), MapGrad<T, F>{in.data<T>(), gy.data<T>(), gx.data<T>(), f});
}

}  // namespace

void activation_forward(Activation a, const Tensor& x, const Tensor& y) {
  dispatch_real(x.dtype(), "activation", [&](auto tag) {
    using T = SONO_TYPE(tag);
    switch (a) {
      case Activation::SiLU: return map<T>(x, y, SiLU{});
      case Activation::ReLU: return map<T>(x, y, ReLU{});
      case Activation::Sigmoid: return map<T>(x, y, Sigmoid{});
    }
  });
}

void activation_backward(Activation a, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx) {
  dispatch_real(gy.dtype(), "activation_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    switch (a) {
      case Activation::SiLU: return map_grad<T>(x, gy, gx, SiLUGrad{});
      case Activation::ReLU: return map_grad<T>(x, gy, gx, ReLUGrad{});
      case Activation::Sigmoid: return map_grad<T>(y, gy, gx, SigmoidGradFromOutput{});
    }
  });
}

}  // namespace sono::cuda
