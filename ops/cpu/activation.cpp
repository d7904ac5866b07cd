// CPU SiLU, ReLU and sigmoid, element-wise over contiguous tensors of equal
// shape (the formulas are ops/math.h, shared with CUDA). Forward overwrites y
// with f(x); backward overwrites gx with gy * f'(x), taking f' from x (SiLU,
// ReLU) or from the saved output y (sigmoid). f32 SiLU and sigmoid go through
// the spans of ops/cpu/vec_math.h, f64 through the ops/math.h loops.
#include <algorithm>
#include <type_traits>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "ops/activation.h"
#include "ops/cpu/vec_math.h"
#include "ops/math.h"

namespace sono::cpu {

namespace {

// f(first, count) over consecutive spans of n, in parallel above 32768 elements
// (the threshold of the element loops).
template <class F>
void for_spans(int64_t n, F f) {
  constexpr int64_t kSpan = 4096;
  const int64_t spans = (n + kSpan - 1) / kSpan;
  parallel_for(spans, worth_parallel(n), [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) f(s * kSpan, std::min(kSpan, n - s * kSpan));
  });
}

}  // namespace

void activation_forward(Activation a, const Tensor& x, const Tensor& y) {
  if (bf16::widened(activation_forward, a, x, bf16::out(y))) return;
  dispatch_float(x.dtype(), "activation", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* in = x.data<scalar_t>();
    scalar_t* out = y.data<scalar_t>();
    const int64_t n = x.numel();
    switch (a) {
      case Activation::SiLU:
        if constexpr (std::is_same_v<scalar_t, float>) {
          for_spans(n, [&](int64_t i, int64_t len) { vec::silu_forward(in + i, out + i, len); });
          break;
        }
        parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) out[i] = math::silu(in[i]);
        });
        break;
      case Activation::ReLU:
        parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) out[i] = math::relu(in[i]);
        });
        break;
      case Activation::Sigmoid:
        if constexpr (std::is_same_v<scalar_t, float>) {
          for_spans(n, [&](int64_t i, int64_t len) { vec::sigmoid(in + i, out + i, len); });
          break;
        }
        parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) out[i] = math::sigmoid(in[i]);
        });
        break;
    }
  });
}

void activation_backward(Activation a, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx) {
  if (bf16::widened(activation_backward, a, x, y, gy, bf16::out(gx))) return;
  dispatch_float(gy.dtype(), "activation_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* g = gy.data<scalar_t>();
    scalar_t* out = gx.data<scalar_t>();
    const int64_t n = gy.numel();
    switch (a) {
      case Activation::SiLU: {
        const scalar_t* in = x.data<scalar_t>();
        if constexpr (std::is_same_v<scalar_t, float>) {
          for_spans(n, [&](int64_t i, int64_t len) { vec::silu_backward(in + i, g + i, out + i, len); });
          break;
        }
        parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) out[i] = g[i] * math::silu_grad(in[i]);
        });
        break;
      }
      case Activation::ReLU: {
        const scalar_t* in = x.data<scalar_t>();
        parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) out[i] = g[i] * math::relu_grad(in[i]);
        });
        break;
      }
      case Activation::Sigmoid: {
        const scalar_t* o = y.data<scalar_t>();
        parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
          for (int64_t i = i0; i < i1; ++i) out[i] = g[i] * math::sigmoid_grad_from_output(o[i]);
        });
        break;
      }
    }
  });
}

}  // namespace sono::cpu
