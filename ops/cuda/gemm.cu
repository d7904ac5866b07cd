// cuBLAS GEMM in row-major terms, the bias gradient and the bias seed (see
// ops/cuda/gemm.h).
//
// Math: C = alpha op(A) op(B) + beta C (row-major). cuBLAS is column-major,
// and a row-major [r, s] matrix is the column-major [s, r] transpose, so the
// call computes C^T = op(B)^T op(A)^T: operands swapped, m and n swapped,
// same transpose flags and leading dimensions.
// bias_grad: gb[j] = sum_{i, e} g[i, j, e], in double; broadcast_bias: y[i, j, e] = bias[j].
// Layout: row-major, leading dimensions as given; cuBLAS takes 32-bit sizes
// (checked). Math (core/precision.h): f32 through cublasGemmEx with compute
// type CUBLAS_COMPUTE_32F (strict FP32, Precision::FP32, the default: parity
// with the CPU and PyTorch's default matmul) or CUBLAS_COMPUTE_32F_FAST_TF32
// (Precision::TF32); read per call, so the handle keeps no math state. f64
// through cublasDgemm. bf16 through cublasGemmEx with CUDA_R_16BF A, B, C and
// CUBLAS_COMPUTE_32F (tensor cores, float accumulation and float alpha/beta;
// C is rounded to nearest even once), whatever the precision setting.
// Launch: cublas{S,D}gemm on the device's stream; bias_grad one block per
// channel with a fixed-order block_reduce; broadcast_bias a grid-stride loop.
// Outputs: C overwritten (beta 0) or accumulated (beta 1); gb and y overwritten.
#include <cublas_v2.h>

#include <limits>

#include "core/cuda/launch.h"
#include "core/precision.h"
#include "ops/cuda/block_reduce.cuh"
#include "ops/cuda/gemm.h"

namespace sono::cuda {

namespace {

int blas_int(int64_t v) {
  SONO_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "gemm", "dimension ", v,
             " does not fit cuBLAS's 32-bit sizes");
  return int(v);
}

cublasOperation_t op(bool t) { return t ? CUBLAS_OP_T : CUBLAS_OP_N; }

cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta,
                         float* c, int ldc) {
  const cublasComputeType_t compute =
      precision() == Precision::TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  return cublasGemmEx(h, ta, tb, m, n, k, alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, beta, c, CUDA_R_32F, ldc,
                      compute, CUBLAS_GEMM_DEFAULT);
}
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const float* alpha, const BFloat16* a, int lda, const BFloat16* b, int ldb, const float* beta,
                         BFloat16* c, int ldc) {
  return cublasGemmEx(h, ta, tb, m, n, k, alpha, a, CUDA_R_16BF, lda, b, CUDA_R_16BF, ldb, beta, c, CUDA_R_16BF, ldc,
                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         const double* alpha, const double* a, int lda, const double* b, int ldb, const double* beta,
                         double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
__global__ void bias_grad_kernel(const T* g, int64_t n, int64_t c, int64_t inner, T* gb) {
  for (int64_t j = blockIdx.x; j < c; j += gridDim.x) {  // uniform per block: block_reduce is safe
    double acc = 0;
    const int64_t count = n * inner;
    for (int64_t t = threadIdx.x; t < count; t += blockDim.x) {
      const int64_t i = t / inner, e = t - i * inner;
      acc += double(g[(i * c + j) * inner + e]);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) gb[j] = scalar_cast<T>(acc);
  }
}

template <class T>
struct BroadcastBias {
  const T* bias;
  T* y;
  int64_t c, inner;
  __device__ void operator()(int64_t i) const { y[i] = bias[(i / inner) % c]; }
};

}  // namespace

template <class T>
void gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, compute_t<T> alpha, const T* a,
          int64_t lda, const T* b, int64_t ldb, compute_t<T> beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  DeviceGuard guard(device);
  SONO_CUBLAS_CHECK(gemm_call(cublas_handle(device), op(trans_b), op(trans_a), blas_int(n), blas_int(m), blas_int(k),
                              &alpha, b, blas_int(ldb), a, blas_int(lda), &beta, c, blas_int(ldc)));
}

template <class T>
void bias_grad(int device, const T* g, int64_t n, int64_t c, int64_t inner, T* gb) {
  if (c == 0) return;
  DeviceGuard guard(device);
  const unsigned blocks = unsigned(std::min<int64_t>(c, kMaxBlocks));
  bias_grad_kernel<T><<<blocks, kBlockSize, 0, current_stream(device)>>>(g, n, c, inner, gb);
  SONO_CUDA_CHECK_LAUNCH();
}

template <class T>
void broadcast_bias(int device, const T* bias, int64_t n, int64_t c, int64_t inner, T* y) {
  parallel_for(device, n * c * inner, BroadcastBias<T>{bias, y, c, inner});
}

template void gemm<float>(int, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t);
template void gemm<double>(int, bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm<BFloat16>(int, bool, bool, int64_t, int64_t, int64_t, float, const BFloat16*, int64_t,
                             const BFloat16*, int64_t, float, BFloat16*, int64_t);
template void bias_grad<float>(int, const float*, int64_t, int64_t, int64_t, float*);
template void bias_grad<double>(int, const double*, int64_t, int64_t, int64_t, double*);
template void bias_grad<BFloat16>(int, const BFloat16*, int64_t, int64_t, int64_t, BFloat16*);
template void broadcast_bias<float>(int, const float*, int64_t, int64_t, int64_t, float*);
template void broadcast_bias<double>(int, const double*, int64_t, int64_t, int64_t, double*);
template void broadcast_bias<BFloat16>(int, const BFloat16*, int64_t, int64_t, int64_t, BFloat16*);

}  // namespace sono::cuda
