// The core's data kernels on the CPU (see core/kernels.h).
//
// copy, fill, axpy: one flat (OpenMP) loop when every operand is contiguous,
// otherwise a walk over the strided offsets. Outputs: copy and fill overwrite
// dst, axpy accumulates into it, sum_to_shape overwrites dst (sums in f64).
#include <array>

#include "core/bf16_cpu.h"
#include "core/kernels.h"
#include "core/parallel.h"
#include "core/strided.h"

namespace sono::kernels::cpu {

void copy(const Tensor& dst, const Tensor& src) {
  dispatch_all(dst.dtype(), "copy", [&](auto dtag) {
    using D = SONO_TYPE(dtag);
    D* d = static_cast<D*>(dst.raw_data());
    dispatch_all(src.dtype(), "copy", [&](auto stag) {
      using S = SONO_TYPE(stag);
      const S* s = static_cast<const S*>(src.raw_data());
      if (dst.is_contiguous() && src.is_contiguous()) {
        const int64_t n = dst.numel();
        parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) d[i] = scalar_cast<D>(s[i]);
        });
        return;
      }
      for_each_offset<2>(dst.shape(), {&dst.strides(), &src.strides()},
                         [&](const std::array<int64_t, 2>& o) { d[o[0]] = scalar_cast<D>(s[o[1]]); });
    });
  });
}

void fill(const Tensor& dst, double value) {
  dispatch_all(dst.dtype(), "fill", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    scalar_t v = scalar_cast<scalar_t>(value);
    scalar_t* d = static_cast<scalar_t*>(dst.raw_data());
    if (dst.is_contiguous()) {
      const int64_t n = dst.numel();
      parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) d[i] = v;
      });
      return;
    }
    for_each_offset<1>(dst.shape(), {&dst.strides()}, [&](const std::array<int64_t, 1>& o) { d[o[0]] = v; });
  });
}

void axpy(const Tensor& dst, const Tensor& src, double alpha) {
  if (bf16::widened(axpy, bf16::inout(dst), src, alpha)) return;
  dispatch_float(dst.dtype(), "add_", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    scalar_t* d = static_cast<scalar_t*>(dst.raw_data());
    const scalar_t* s = static_cast<const scalar_t*>(src.raw_data());
    const scalar_t a = scalar_t(alpha);
    if (dst.is_contiguous() && src.is_contiguous()) {
      const int64_t n = dst.numel();
      parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) d[i] += a * s[i];
      });
      return;
    }
    for_each_offset<2>(dst.shape(), {&dst.strides(), &src.strides()},
                       [&](const std::array<int64_t, 2>& o) { d[o[0]] += a * s[o[1]]; });
  });
}

// Each output element sums its own set of source elements (the broadcast
// dims), so outputs are independent: parallel over outputs, a serial f64
// sum inside, with the innermost reduced dim as the tight loop.
void sum_to_shape(const Tensor& dst, const Tensor& src) {
  if (bf16::widened(sum_to_shape, bf16::out(dst), src)) return;
  dispatch_float(src.dtype(), "sum_to_shape", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const Shape& ss = src.shape();
    const Shape dstrides = broadcast_strides(dst.shape(), dst.strides(), ss);
    Shape kept, kept_src_st, kept_dst_st, red, red_st;
    for (size_t d = 0; d < ss.size(); ++d) {
      if (ss[d] == 1) continue;
      if (dstrides[d] == 0) red.push_back(ss[d]), red_st.push_back(src.strides()[d]);
      else kept.push_back(ss[d]), kept_src_st.push_back(src.strides()[d]), kept_dst_st.push_back(dstrides[d]);
    }
    scalar_t* out = static_cast<scalar_t*>(dst.raw_data());
    const scalar_t* in = static_cast<const scalar_t*>(src.raw_data());
    const int64_t n_out = shape_numel(kept), n_red = shape_numel(red);
    const int64_t inner = red.empty() ? 1 : red.back(), inner_st = red.empty() ? 0 : red_st.back();
    parallel_for(n_out, worth_parallel(n_out * n_red), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        int64_t src_off = 0, dst_off = 0, rem = o;
        for (size_t k = kept.size(); k-- > 0;) {
          int64_t idx = rem % kept[k];
          rem /= kept[k];
          src_off += idx * kept_src_st[k];
          dst_off += idx * kept_dst_st[k];
        }
        double acc = 0;
        for (int64_t r = 0; r < n_red; r += inner) {
          int64_t off = src_off, rr = r / inner;
          for (size_t k = red.size() - (red.empty() ? 0 : 1); k-- > 0;) {
            off += (rr % red[k]) * red_st[k];
            rr /= red[k];
          }
          for (int64_t i = 0; i < inner; ++i) acc += double(in[off + i * inner_st]);
        }
        out[dst_off] = scalar_t(acc);
      }
    });
  });
}

}  // namespace sono::kernels::cpu
