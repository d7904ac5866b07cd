#pragma once
// Error checking for CUDA, cuBLAS and cuDNN calls. Each macro throws
// sono::Error naming the call text, file:line and the library's error string.
// Only the CUDA runtime header is included here: SONO_CUBLAS_CHECK and
// SONO_CUDNN_CHECK expand to cublasGetStatusString / cudnnGetErrorString, so a
// file using them includes cublas_v2.h / cudnn.h itself (it does anyway to
// make the call).
#include <cuda_runtime_api.h>

namespace sono::cuda {
[[noreturn]] void throw_call_error(const char* library, const char* call, const char* file, int line,
                                   const char* message);
}  // namespace sono::cuda

#define SONO_CUDA_CHECK(call)                                                                           \
  do {                                                                                                  \
    cudaError_t _sono_err = (call);                                                                     \
    if (_sono_err != cudaSuccess)                                                                       \
      ::sono::cuda::throw_call_error("CUDA", #call, __FILE__, __LINE__, cudaGetErrorString(_sono_err)); \
  } while (0)

#define SONO_CUBLAS_CHECK(call)                                                                             \
  do {                                                                                                      \
    cublasStatus_t _sono_st = (call);                                                                       \
    if (_sono_st != CUBLAS_STATUS_SUCCESS)                                                                  \
      ::sono::cuda::throw_call_error("cuBLAS", #call, __FILE__, __LINE__, cublasGetStatusString(_sono_st)); \
  } while (0)

#define SONO_CUDNN_CHECK(call)                                                                           \
  do {                                                                                                   \
    cudnnStatus_t _sono_st = (call);                                                                     \
    if (_sono_st != CUDNN_STATUS_SUCCESS)                                                                \
      ::sono::cuda::throw_call_error("cuDNN", #call, __FILE__, __LINE__, cudnnGetErrorString(_sono_st)); \
  } while (0)

// After every kernel launch: reports bad launch configurations immediately
// (execution errors surface at the next synchronizing call).
#define SONO_CUDA_CHECK_LAUNCH() SONO_CUDA_CHECK(cudaGetLastError())
