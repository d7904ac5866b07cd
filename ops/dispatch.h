#pragma once
// Routes an op to its CPU or CUDA kernel by the device of its tensors.
#include "core/error.h"
#include "core/tensor.h"

namespace sono {
[[noreturn]] void throw_no_cuda_kernel(const char* op, const Tensor& t);
}

// SONO_DISPATCH_DEVICE(x.device(), "silu", unary_forward, args...) calls
// sono::cpu::unary_forward(args...) or sono::cuda::unary_forward(args...).
#if SONO_WITH_CUDA
#define SONO_DISPATCH_DEVICE(t, op, fn, ...)               \
  do {                                                     \
    if ((t).device().is_cpu()) ::sono::cpu::fn(__VA_ARGS__); \
    else ::sono::cuda::fn(__VA_ARGS__);                    \
  } while (0)
#else
#define SONO_DISPATCH_DEVICE(t, op, fn, ...)               \
  do {                                                     \
    if ((t).device().is_cpu()) ::sono::cpu::fn(__VA_ARGS__); \
    else ::sono::throw_no_cuda_kernel(op, t);              \
  } while (0)
#endif

// For ops whose CUDA kernel is not written yet: CPU only, a clear error on cuda.
#define SONO_DISPATCH_CPU_ONLY(t, op, fn, ...)             \
  do {                                                     \
    if ((t).device().is_cpu()) ::sono::cpu::fn(__VA_ARGS__); \
    else ::sono::throw_no_cuda_kernel(op, t);              \
  } while (0)
