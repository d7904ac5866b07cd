#pragma once
// Row-major GEMM over cuBLAS and the per-channel bias gradient, shared by the
// CUDA linear and conv2d (.cu files of ops/cuda only).
#include <cstdint>

#include "core/dtype.h"

namespace sono::cuda {

// C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C, all row-major, on
// the stream of `device`; op(X) = X^T when trans_x; lda/ldb/ldc are the row
// strides as stored. With beta == 0, C is never read. The same contract as
// sono::cpu::gemm. T is float, double or BFloat16; alpha and beta are in the
// compute type (float for bf16). f32 runs in strict FP32 unless
// core/precision.h says TF32; bf16 multiplies bf16 inputs on tensor cores
// with float accumulation and rounds C to nearest even once.
template <class T>
void gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, compute_t<T> alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, compute_t<T> beta, T* c, int64_t ldc);

// gb[j] = sum over n and inner of g[., j, .] for g [n, c, inner] row-major,
// summed in double in a fixed order (deterministic), rounded to T once; gb
// overwritten.
template <class T>
void bias_grad(int device, const T* g, int64_t n, int64_t c, int64_t inner, T* gb);

// y[i, j, e] = bias[j] for y [n, c, inner]: the seed a GEMM with beta = 1 adds onto.
template <class T>
void broadcast_bias(int device, const T* bias, int64_t n, int64_t c, int64_t inner, T* y);

}  // namespace sono::cuda
