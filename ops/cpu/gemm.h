#pragma once
// Typed row-major GEMM over OpenBLAS, shared by the CPU conv2d and linear.
#include <cstdint>

namespace sono::cpu {

// C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C, all row-major;
// op(X) = X^T when trans_x. lda/ldb/ldc are the row strides of A, B, C as
// stored. With beta == 0, C is never read (may hold garbage or NaN).
// Threaded by Sono over fixed blocks of C (bit-identical at 2..N threads);
// inside an OpenMP parallel region it runs on the calling thread.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc);

// The gradient of a per-channel bias added to g [n, c, inner] (row-major):
// gb[j] = sum over n and inner of g[., j, .]. inner is 1 for linear, H*W for conv.
template <class T>
void bias_grad(const T* g, int64_t n, int64_t c, int64_t inner, T* gb);

}  // namespace sono::cpu
