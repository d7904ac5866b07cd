#include "core/kernels.h"

namespace sono::kernels {

namespace {
[[noreturn, maybe_unused]] void no_cuda(const char* op, const Tensor& t) {
  throw Error(str_cat(op, ": ", t.describe(), " is on a cuda device but this build has no CUDA backend"));
}
}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  SONO_CHECK(dst.shape() == src.shape(), "copy", "destination ", dst.describe(), " and source ",
             src.describe(), " differ in shape");
  if (dst.numel() == 0) return;
  if (dst.device().is_cpu() && src.device().is_cpu()) return cpu::copy(dst, src);
  if (dst.device() == src.device()) {
#if SONO_WITH_CUDA
    return cuda::copy(dst, src);
#else
    no_cuda("copy", dst);
#endif
  }
  // Across devices: make the source contiguous in the destination dtype on its
  // own device, move the bytes, then copy into the destination layout.
  Tensor staged = Tensor::empty(src.shape(), dst.dtype(), src.device());
  copy(staged, src);
  if (dst.is_contiguous()) {
    copy_bytes(dst.raw_data(), dst.device(), staged.raw_data(), staged.device(),
               size_t(dst.numel()) * dtype_size(dst.dtype()));
  } else {
    Tensor moved = Tensor::empty(src.shape(), dst.dtype(), dst.device());
    copy_bytes(moved.raw_data(), moved.device(), staged.raw_data(), staged.device(),
               size_t(dst.numel()) * dtype_size(dst.dtype()));
    copy(dst, moved);
  }
}

void fill(const Tensor& dst, double value) {
  if (dst.numel() == 0) return;
  if (dst.device().is_cpu()) return cpu::fill(dst, value);
#if SONO_WITH_CUDA
  cuda::fill(dst, value);
#else
  no_cuda("fill", dst);
#endif
}

void axpy(const Tensor& dst, const Tensor& src, double alpha) {
  SONO_CHECK(dst.shape() == src.shape(), "add_", "destination ", dst.describe(), " and source ",
             src.describe(), " differ in shape");
  check_same_device(dst, src, "add_");
  check_same_dtype(dst, src, "add_");
  check_float(dst, "add_", "destination");
  if (dst.numel() == 0) return;
  if (dst.device().is_cpu()) return cpu::axpy(dst, src, alpha);
#if SONO_WITH_CUDA
  cuda::axpy(dst, src, alpha);
#else
  no_cuda("add_", dst);
#endif
}

Tensor sum_to_shape(const Tensor& src, const Shape& shape) {
  Shape b = broadcast_shapes(src.shape(), shape, "sum_to_shape");
  SONO_CHECK(b == src.shape(), "sum_to_shape", "cannot reduce ", src.describe(), " to ", shape_str(shape));
  check_float(src, "sum_to_shape", "source");
  Tensor dst = Tensor::empty(shape, src.dtype(), src.device());
  if (src.device().is_cpu()) {
    cpu::sum_to_shape(dst, src);
  } else {
#if SONO_WITH_CUDA
    cuda::sum_to_shape(dst, src);
#else
    no_cuda("sum_to_shape", src);
#endif
  }
  return dst;
}

}  // namespace sono::kernels
