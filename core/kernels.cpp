#include "core/kernels.h"

namespace sono::kernels {

void copy(const Tensor& dst, const Tensor& src) {
  SONO_CHECK(dst.shape() == src.shape(), "copy", "destination ", dst.describe(), " and source ", src.describe(),
             " differ in shape");
  if (dst.numel() == 0) return;
  if (dst.device() == src.device()) {
    SONO_DISPATCH_DEVICE(dst, "copy", copy, dst, src);
    return;
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
  SONO_DISPATCH_DEVICE(dst, "fill", fill, dst, value);
}

void axpy(const Tensor& dst, const Tensor& src, double alpha) {
  SONO_CHECK(dst.shape() == src.shape(), "add_", "destination ", dst.describe(), " and source ", src.describe(),
             " differ in shape");
  check_same_device(dst, src, "add_");
  check_same_dtype(dst, src, "add_");
  check_real(dst, "add_", "destination");
  if (dst.numel() == 0) return;
  SONO_DISPATCH_DEVICE(dst, "add_", axpy, dst, src, alpha);
}

Tensor sum_to_shape(const Tensor& src, const Shape& shape) {
  Shape b = broadcast_shapes(src.shape(), shape, "sum_to_shape");
  SONO_CHECK(b == src.shape(), "sum_to_shape", "cannot reduce ", src.describe(), " to ", shape_str(shape));
  check_real(src, "sum_to_shape", "source");
  Tensor dst = Tensor::empty(shape, src.dtype(), src.device());
  SONO_DISPATCH_DEVICE(src, "sum_to_shape", sum_to_shape, dst, src);
  return dst;
}

}  // namespace sono::kernels
