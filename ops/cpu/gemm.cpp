// Row-major C [m, n] = alpha * op(A) [m, k] @ op(B) [k, n] + beta * C over
// OpenBLAS sgemm/dgemm (op(X) = X^T when trans_x; lda/ldb/ldc are the stored
// row strides). With beta = 0, C is overwritten without being read; with
// beta = 1 the product accumulates onto it. Sizes are checked to fit BLAS's
// 32-bit integers.
#include "ops/cpu/gemm.h"

#include <cblas.h>

#include <limits>

#include "core/error.h"

namespace sono::cpu {

namespace {

// cblas takes 32-bit sizes; a silent wrap would corrupt memory.
blasint blas_int(int64_t v) {
  SONO_CHECK(v >= 0 && v <= std::numeric_limits<blasint>::max(), "gemm", "dimension ", v,
             " does not fit the BLAS integer type");
  return blasint(v);
}

CBLAS_TRANSPOSE op(bool t) { return t ? CblasTrans : CblasNoTrans; }

}  // namespace

template <>
void gemm<float>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, op(trans_a), op(trans_b), blas_int(m), blas_int(n), blas_int(k), alpha, a, blas_int(lda),
              b, blas_int(ldb), beta, c, blas_int(ldc));
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
                  int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, op(trans_a), op(trans_b), blas_int(m), blas_int(n), blas_int(k), alpha, a, blas_int(lda),
              b, blas_int(ldb), beta, c, blas_int(ldc));
}

}  // namespace sono::cpu

namespace sono::cpu {

template <class T>
void bias_grad(const T* g, int64_t n, int64_t c, int64_t inner, T* gb) {
#pragma omp parallel for if (n * c * inner > (1 << 16))
  for (int64_t j = 0; j < c; ++j) {
    T acc = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* p = g + (i * c + j) * inner;
#pragma omp simd reduction(+ : acc)
      for (int64_t e = 0; e < inner; ++e) acc += p[e];
    }
    gb[j] = acc;
  }
}

template void bias_grad<float>(const float*, int64_t, int64_t, int64_t, float*);
template void bias_grad<double>(const double*, int64_t, int64_t, int64_t, double*);

}  // namespace sono::cpu
