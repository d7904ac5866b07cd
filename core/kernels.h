#pragma once
// The few data kernels the core itself needs (copies, fills, gradient
// accumulation). Each dispatches to core/kernels_cpu.cpp or core/cuda/kernels.cu.
#include "core/backend.h"
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

// Backends: equal shapes and one device, checked above; copy's operands are
// both on the CPU or both on the same cuda device (cross-device copies are
// staged by kernels::copy); any strides, with a contiguous fast path.
SONO_BACKEND_FN(void, copy, (const Tensor& dst, const Tensor& src));
SONO_BACKEND_FN(void, fill, (const Tensor& dst, double value));
SONO_BACKEND_FN(void, axpy, (const Tensor& dst, const Tensor& src, double alpha));
SONO_BACKEND_FN(void, sum_to_shape, (const Tensor& dst, const Tensor& src));

}  // namespace sono::kernels
