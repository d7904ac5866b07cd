#pragma once
// Row-major GEMM over cuBLAS and the per-channel bias gradient, shared by the
// CUDA linear and conv2d (.cu files of ops/cuda only).
#include <cstdint>

namespace sono::cuda {

// C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C, all row-major, on
// the stream of `device`; op(X) = X^T when trans_x; lda/ldb/ldc are the row
// strides as stored. With beta == 0, C is never read. The same contract as
// sono::cpu::gemm. f32 runs in strict FP32 unless core/precision.h says TF32.
template <class T>
void gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// gb[j] = sum over n and inner of g[., j, .] for g [n, c, inner] row-major,
// summed in double in a fixed order (deterministic); gb overwritten.
template <class T>
void bias_grad(int device, const T* g, int64_t n, int64_t c, int64_t inner, T* gb);

// y[i, j, e] = bias[j] for y [n, c, inner]: the seed a GEMM with beta = 1 adds onto.
template <class T>
void broadcast_bias(int device, const T* bias, int64_t n, int64_t c, int64_t inner, T* y);

}  // namespace sono::cuda
