#pragma once
// The few data kernels the core itself needs (copies, fills, gradient
// accumulation). Each dispatches to the CPU code here or to core/cuda/.
#include "core/tensor.h"

namespace sono::kernels {

// dst[i] = convert(src[i]) elementwise over equal shapes; any strides,
// dtypes and devices (cross-device copies go through a contiguous staging).
void copy(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, double value);
// dst += alpha * src (same shape, float dtypes).
void axpy(const Tensor& dst, const Tensor& src, double alpha);
// Sums src over broadcast dimensions down to `shape` (a broadcast source of src's shape).
Tensor sum_to_shape(const Tensor& src, const Shape& shape);

namespace cpu {
void copy(const Tensor& dst, const Tensor& src);
void fill(const Tensor& dst, double value);
void axpy(const Tensor& dst, const Tensor& src, double alpha);
void sum_to_shape(const Tensor& dst, const Tensor& src);
}  // namespace cpu

#if SONO_WITH_CUDA
namespace cuda {
void copy(const Tensor& dst, const Tensor& src);  // both on the same cuda device
void fill(const Tensor& dst, double value);
void axpy(const Tensor& dst, const Tensor& src, double alpha);
void sum_to_shape(const Tensor& dst, const Tensor& src);
}  // namespace cuda
#endif

}  // namespace sono::kernels
