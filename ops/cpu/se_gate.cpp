// CPU squeeze-excitation gate over contiguous x [N, C, S...] as N*C planes of
// S values, one logit per plane (ops/math.h's sigmoid, shared with CUDA; f32
// through ops/cpu/vec_math.h like the sigmoid op, so fused and unfused agree to the bit):
// forward out = x * sigmoid(s[p]); backward, in one pass over each plane,
// gx = gy * sigmoid(s[p]) and gs[p] = sigmoid'(s[p]) * sum(gy * x), the
// products in T summed in double. out, gx and gs are overwritten.
#include "ops/se_gate.h"
#include "core/bf16_cpu.h"

#include <type_traits>

#include "core/parallel.h"
#include "ops/cpu/vec_math.h"
#include "ops/math.h"

namespace sono::cpu {

namespace {

// The sigmoid op's value for one logit (ops/cpu/activation.cpp).
template <class T>
T gate_of(T s) {
  if constexpr (std::is_same_v<T, float>) {
    float g;
    vec::sigmoid(&s, &g, 1);
    return g;
  } else {
    return math::sigmoid(s);
  }
}

}  // namespace

void se_gate_forward(const Tensor& x, const Tensor& s, const Tensor& out) {
  if (bf16::widened(se_gate_forward, x, s, bf16::out(out))) return;
  dispatch_float(x.dtype(), "se_gate", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const T* xd = x.data<T>();
    const T* sd = s.data<T>();
    T* od = out.data<T>();
    const int64_t planes = s.numel(), S = x.numel() / planes;
    parallel_for(planes, worth_parallel(x.numel()), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T g = gate_of(sd[p]);
        const T* src = xd + p * S;
        T* dst = od + p * S;
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) dst[i] = src[i] * g;
      }
    });
  });
}

void se_gate_backward(const Tensor& x, const Tensor& s, const Tensor& gy, const Tensor& gx, const Tensor& gs) {
  if (bf16::widened(se_gate_backward, x, s, gy, bf16::out(gx), bf16::out(gs))) return;
  dispatch_float(x.dtype(), "se_gate_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const T* xd = x.data<T>();
    const T* sd = s.data<T>();
    const T* g = gy.data<T>();
    T* gxd = gx.defined() ? gx.data<T>() : nullptr;
    T* gsd = gs.defined() ? gs.data<T>() : nullptr;
    const int64_t planes = s.numel(), S = x.numel() / planes;
    parallel_for(planes, worth_parallel(x.numel()), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T gate = gate_of(sd[p]);
        const T* xs = xd + p * S;
        const T* gp = g + p * S;
        if (gxd) {
          T* dst = gxd + p * S;
#pragma omp simd
          for (int64_t i = 0; i < S; ++i) dst[i] = gp[i] * gate;
        }
        if (gsd) {
          // T products summed in double in index order: the values and order
          // of the unfused mul then sum_to (core/kernels_cpu.cpp), so the f32
          // gradient is the same to the bit (f64 may fuse product and sum).
          double sum = 0;
          for (int64_t i = 0; i < S; ++i) sum += double(gp[i] * xs[i]);
          gsd[p] = T(sum) * math::sigmoid_grad_from_output(gate);
        }
      }
    });
  });
}

}  // namespace sono::cpu
