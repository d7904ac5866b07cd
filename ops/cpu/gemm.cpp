// Row-major C [m, n] = alpha * op(A) [m, k] @ op(B) [k, n] + beta * C over
// OpenBLAS sgemm/dgemm (op(X) = X^T when trans_x; lda/ldb/ldc are the stored
// row strides). With beta = 0, C is overwritten without being read; with
// beta = 1 the product accumulates onto it. Sizes are checked to fit BLAS's
// 32-bit integers.
// Threading: OpenBLAS itself never threads (its level-3 threading busy-waits
// between its threads, which stalls for as long as another process holds a
// core, and partitions by thread count, so its edge kernels would round
// differently at 2 and 3 threads). With more than one thread and enough work,
// C is cut into blocks of rows or columns whose size depends on the shape
// only, each block one single-threaded BLAS call, the blocks one job of the
// pool (core/parallel.h); otherwise one call. So the result is the same at 2,
// 3 or N threads. At one thread the call is the whole-matrix one, which for
// some shapes rounds differently from the blocks (a few ulps), so 1 vs 2
// threads agree to f32 rounding, not bitwise.
#include "ops/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "core/parallel.h"

namespace sono::cpu {

namespace {

// cblas takes 32-bit sizes; a silent wrap would corrupt memory.
blasint blas_int(int64_t v) {
  SONO_CHECK(v >= 0 && v <= std::numeric_limits<blasint>::max(), "gemm", "dimension ", v,
             " does not fit the BLAS integer type");
  return blasint(v);
}

CBLAS_TRANSPOSE op(bool t) { return t ? CblasTrans : CblasNoTrans; }

// OpenBLAS's OpenMP build threads a call by the calling thread's
// omp_get_max_threads() (an OpenMP setting per thread: a pool worker starts
// with OMP_NUM_THREADS or the CPU count), so every thread that calls it sets
// its own to 1 once. Sono itself opens no OpenMP region (core/parallel.h).
void blas_single_threaded() {
  thread_local const bool once = (omp_set_num_threads(1), true);
  (void)once;
}

// Blocks of C: the longer of its two sides is cut into pieces of `block`
// rows or columns (a multiple of 16, the BLAS kernels' widest unroll), at
// most kMaxBlocks of them and none below kMinBlock.
constexpr int64_t kMinBlock = 64;
constexpr int64_t kMaxBlocks = 32;
// Below this many multiply-adds one thread is faster than waking the others.
constexpr int64_t kParallelMacs = int64_t(1) << 20;

struct Blocks {
  bool by_columns;
  int64_t block, count;
  Blocks(int64_t m, int64_t n) : by_columns(n >= m) {
    const int64_t len = by_columns ? n : m;
    block = std::max(kMinBlock, (len + kMaxBlocks - 1) / kMaxBlocks);
    block = (block + 15) / 16 * 16;
    count = (len + block - 1) / block;
  }
};

template <class T>
void blas_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
               const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

template <>
void blas_gemm<float>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  blas_single_threaded();
  cblas_sgemm(CblasRowMajor, op(trans_a), op(trans_b), blas_int(m), blas_int(n), blas_int(k), alpha, a, blas_int(lda),
              b, blas_int(ldb), beta, c, blas_int(ldc));
}

template <>
void blas_gemm<double>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                       int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  blas_single_threaded();
  cblas_dgemm(CblasRowMajor, op(trans_a), op(trans_b), blas_int(m), blas_int(n), blas_int(k), alpha, a, blas_int(lda),
              b, blas_int(ldb), beta, c, blas_int(ldc));
}

// Block i of C: its rows [lo, hi) of op(A) or its columns [lo, hi) of op(B).
template <class T>
void gemm_block(const Blocks& bl, int64_t i, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const int64_t lo = i * bl.block, len = std::min(bl.block, (bl.by_columns ? n : m) - lo);
  if (bl.by_columns) {
    blas_gemm<T>(trans_a, trans_b, m, len, k, alpha, a, lda, trans_b ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc);
  } else {
    blas_gemm<T>(trans_a, trans_b, len, n, k, alpha, trans_a ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc,
                 ldc);
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  for (int64_t v : {m, n, k, lda, ldb, ldc}) blas_int(v);  // every block's sizes are within these
  const Blocks bl(m, n);
  // Inside another job (a Winograd GEMM per xi, an im2col chunk) the call is
  // the whole-matrix one, as at one thread.
  if (bl.count > 1 && m * n * k >= kParallelMacs && num_threads() > 1 && !in_parallel()) {
    parallel_for_chunks(bl.count, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i)
        gemm_block(bl, i, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    });
    return;
  }
  // One call on the calling thread: with one thread exactly the plain BLAS
  // call, so single-threaded results are those of the whole-matrix call.
  blas_gemm<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

}  // namespace sono::cpu

namespace sono::cpu {

template <class T>
void bias_grad(const T* g, int64_t n, int64_t c, int64_t inner, T* gb) {
  parallel_for(c, n * c * inner > (1 << 16), [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      T acc = 0;
      for (int64_t i = 0; i < n; ++i) {
        const T* p = g + (i * c + j) * inner;
#pragma omp simd reduction(+ : acc)
        for (int64_t e = 0; e < inner; ++e) acc += p[e];
      }
      gb[j] = acc;
    }
  });
}

template void bias_grad<float>(const float*, int64_t, int64_t, int64_t, float*);
template void bias_grad<double>(const double*, int64_t, int64_t, int64_t, double*);

}  // namespace sono::cpu
