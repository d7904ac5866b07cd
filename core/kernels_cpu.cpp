#include <array>

#include "core/kernels.h"
#include "core/strided.h"

namespace sono::kernels::cpu {

namespace {
template <class To, class From>
inline To convert(From v) {
  if constexpr (std::is_same_v<To, BFloat16>) return BFloat16(float(v));
  else if constexpr (std::is_same_v<From, BFloat16>) return To(float(v));
  else return static_cast<To>(v);
}
}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  dispatch_all(dst.dtype(), "copy", [&](auto dtag) {
    using D = SONO_TYPE(dtag);
    D* d = static_cast<D*>(dst.raw_data());
    dispatch_all(src.dtype(), "copy", [&](auto stag) {
      using S = SONO_TYPE(stag);
      const S* s = static_cast<const S*>(src.raw_data());
      if (dst.is_contiguous() && src.is_contiguous()) {
        const int64_t n = dst.numel();
#pragma omp parallel for if (n > (1 << 16))
        for (int64_t i = 0; i < n; ++i) d[i] = convert<D>(s[i]);
        return;
      }
      for_each_offset<2>(dst.shape(), {&dst.strides(), &src.strides()},
                         [&](const std::array<int64_t, 2>& o) { d[o[0]] = convert<D>(s[o[1]]); });
    });
  });
}

void fill(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), "fill", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    scalar_t v = convert<scalar_t>(value);
    scalar_t* d = static_cast<scalar_t*>(dst.raw_data());
    for_each_offset<1>(dst.shape(), {&dst.strides()}, [&](const std::array<int64_t, 1>& o) { d[o[0]] = v; });
  });
}

void axpy(const Tensor& dst, const Tensor& src, double alpha) {
  dispatch_float(dst.dtype(), "add_", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    scalar_t* d = static_cast<scalar_t*>(dst.raw_data());
    const scalar_t* s = static_cast<const scalar_t*>(src.raw_data());
    const scalar_t a = scalar_t(alpha);
    if (dst.is_contiguous() && src.is_contiguous()) {
      const int64_t n = dst.numel();
#pragma omp parallel for if (n > (1 << 16))
      for (int64_t i = 0; i < n; ++i) d[i] += a * s[i];
      return;
    }
    for_each_offset<2>(dst.shape(), {&dst.strides(), &src.strides()},
                       [&](const std::array<int64_t, 2>& o) { d[o[0]] += a * s[o[1]]; });
  });
}

void sum_to_shape(const Tensor& dst, const Tensor& src) {
  dispatch_float(src.dtype(), "sum_to_shape", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    fill(dst, 0.0);
    scalar_t* d = static_cast<scalar_t*>(dst.raw_data());
    const scalar_t* s = static_cast<const scalar_t*>(src.raw_data());
    Shape ds = broadcast_strides(dst.shape(), dst.strides(), src.shape());
    for_each_offset<2>(src.shape(), {&ds, &src.strides()},
                       [&](const std::array<int64_t, 2>& o) { d[o[0]] += s[o[1]]; });
  });
}

}  // namespace sono::kernels::cpu
