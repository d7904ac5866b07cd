#pragma once
// The backend contract of an op: its CPU and CUDA entry points are declared
// once, with SONO_BACKEND_FN, and reached only through SONO_DISPATCH_DEVICE.
//
//   SONO_BACKEND_FN(void, activation_forward, (Activation a, const Tensor& x, const Tensor& y));
//
// (ops/activation.h) declares cpu::activation_forward and, in a CUDA build,
// cuda::activation_forward with the same parameters, in the namespace the
// macro is used in. The CPU code lives in <dir>/cpu/<file>.cpp, the CUDA code
// in <dir>/cuda/<file>.cu. Since the dispatch calls cuda::fn in every CUDA
// build, an op whose CUDA kernel is missing fails to link there instead of
// failing at run time.
#include <string>

#include "core/device.h"
#include "core/error.h"
#include "core/host_sync.h"
#include "core/profile.h"
#include "core/tensor.h"

// The static_assert only makes the macro take a closing semicolon like a declaration.
#if SONO_WITH_CUDA
#define SONO_BACKEND_FN(ret, name, params) \
  namespace cpu {                          \
  ret name params;                         \
  }                                        \
  namespace cuda {                         \
  ret name params;                         \
  }                                        \
  static_assert(true, "")
#else
#define SONO_BACKEND_FN(ret, name, params) \
  namespace cpu {                          \
  ret name params;                         \
  }                                        \
  static_assert(true, "")
#endif

// SONO_DISPATCH_DEVICE(x, "silu", activation_forward, a, x, y) calls
// cpu::activation_forward(a, x, y) when x is on the CPU and
// cuda::activation_forward(a, x, y) otherwise (names looked up
// from the calling namespace, so sono::kernels reaches sono::kernels::cpu).
// Without the CUDA backend a cuda tensor gets the one "no CUDA backend" error,
// naming the op and the tensor. Each call is a core/profile.h scope named fn;
// a CPU kernel runs in a KernelScope: its reads of its own tensors are not
// host waits (core/host_sync.h).
#if SONO_WITH_CUDA
#define SONO_DISPATCH_DEVICE(t, op, fn, ...)       \
  do {                                             \
    const ::sono::profile::Scope sono_scope_(#fn); \
    if ((t).device().is_cpu()) {                   \
      ::sono::KernelScope sono_kernel_scope_;      \
      cpu::fn(__VA_ARGS__);                        \
    } else {                                       \
      cuda::fn(__VA_ARGS__);                       \
    }                                              \
  } while (0)
#else
#define SONO_DISPATCH_DEVICE(t, op, fn, ...)                                    \
  do {                                                                          \
    const ::sono::profile::Scope sono_scope_(#fn);                              \
    if ((t).device().is_cpu()) {                                                \
      ::sono::KernelScope sono_kernel_scope_;                                   \
      cpu::fn(__VA_ARGS__);                                                     \
    } else {                                                                    \
      ::sono::throw_no_cuda_backend(::sono::str_cat(op, ": ", (t).describe())); \
    }                                                                           \
  } while (0)
#endif
