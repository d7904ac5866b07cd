#pragma once
// Shared by the CUDA op tests: skip without a device, NaN-poisoned outputs,
// the CUDA-vs-CPU tolerance per dtype, and bitwise comparison.
#include <doctest/doctest.h>

#include <functional>
#include <limits>
#include <vector>

#include "core/cuda/runtime.h"
#include "core/precision.h"
#include "core/tensor.h"
#include "tests/support/check.h"
#include "tests/support/skip.h"

namespace sono::test {

inline bool cuda_available() { return cuda::device_count() > 0; }

inline const Device kGpu = Device::cuda(0);

// Kernels must overwrite every output element: unwritten NaNs fail CHECK_CLOSE.
inline Tensor nan_like(const Tensor& t) {
  return Tensor::full(t.shape(), std::numeric_limits<double>::quiet_NaN(), t.dtype(), t.device());
}
inline Tensor nan_tensor(const Shape& shape, DType dtype, Device device = kGpu) {
  return Tensor::full(shape, std::numeric_limits<double>::quiet_NaN(), dtype, device);
}

// Sets the process precision (core/precision.h) for one scope and restores the
// previous one. Tests comparing cuDNN/cuBLAS with the CPU hold FP32 explicitly;
// the TF32 tests hold TF32.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision p) : previous_(precision()) { set_precision(p); }
  ~PrecisionScope() { set_precision(previous_); }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Precision previous_;
};

// CUDA vs CPU on the same inputs: f32 differs by summation order and fused
// multiply-adds, f64 only in the last bits.
inline Tolerance cuda_tol(DType t) { return t == DType::F32 ? tol::kCudaVsCpuF32 : tol::kForwardF64; }

// Exact equality (NaN never equal), reporting the first mismatch.
inline void check_bitwise(const Tensor& gpu, const Tensor& cpu) {
  REQUIRE(gpu.shape() == cpu.shape());
  REQUIRE(gpu.dtype() == cpu.dtype());
  const auto g = values(gpu), c = values(cpu);
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (!(g[i] == c[i]) && bad++ == 0) first = i;
  CHECK_MESSAGE(bad == 0, bad, " of ", g.size(), " elements differ, first at ", first, ": cuda ", g[first], " cpu ",
                c[first], " (", gpu.describe(), ")");
}

// Runs the public op `fn` on CPU copies and on cuda copies of `inputs` with
// autograd: every float input requires grad, the output gets the same random
// upstream gradient on both devices, and the output and every input gradient
// must agree within `tl`.
inline void check_op_cuda_vs_cpu(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                                 const std::vector<Tensor>& inputs, Tolerance tl, uint64_t seed = 4242) {
  std::vector<Tensor> cpu_in, gpu_in;
  for (const Tensor& t : inputs) {
    Tensor c = t.clone(), g = t.to(kGpu);
    if (is_floating(t.dtype())) {
      c.set_requires_grad(true);
      g.set_requires_grad(true);
    }
    cpu_in.push_back(c);
    gpu_in.push_back(g);
  }
  Tensor out_cpu = fn(cpu_in), out_gpu = fn(gpu_in);
  REQUIRE(out_gpu.device() == kGpu);
  CHECK_CLOSE(out_gpu, out_cpu, tl);
  if (!out_cpu.requires_grad()) return;
  Tensor gy = randn(out_cpu.shape(), seed, out_cpu.dtype());
  out_cpu.backward(gy);
  out_gpu.backward(gy.to(kGpu));
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!is_floating(inputs[k].dtype())) continue;
    CAPTURE(k);
    REQUIRE(gpu_in[k].grad().defined() == cpu_in[k].grad().defined());
    if (cpu_in[k].grad().defined()) CHECK_CLOSE(gpu_in[k].grad(), cpu_in[k].grad(), tl);
  }
}

}  // namespace sono::test

// ctest reports the case as skipped (tests/support/skip.h); tools/gpu_check.sh
// counts the "skipped: no CUDA device" lines.
#define SKIP_WITHOUT_CUDA() SONO_SKIP_UNLESS(::sono::test::cuda_available(), "no CUDA device")
