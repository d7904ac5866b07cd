#pragma once
// Iteration over n-d strided layouts for CPU kernels that accept any view.
#include <array>
#include <cstdint>
#include <vector>

#include "core/shape.h"

namespace sono {

// Walks every element of `shape` in row-major order and calls f(offsets),
// where offsets[k] is the element offset of that element in operand k
// (whose strides are *strides[k]).
template <size_t N, class F>
void for_each_offset(const Shape& shape, const std::array<const Shape*, N>& strides, F&& f) {
  const size_t nd = shape.size();
  int64_t total = shape_numel(shape);
  if (total == 0) return;
  std::vector<int64_t> idx(nd, 0);
  std::array<int64_t, N> off{};
  if (nd == 0) {
    f(off);
    return;
  }
  const int64_t inner = shape[nd - 1];
  std::array<int64_t, N> inner_stride;
  for (size_t k = 0; k < N; ++k) inner_stride[k] = (*strides[k])[nd - 1];
  for (int64_t done = 0; done < total; done += inner) {
    std::array<int64_t, N> o = off;
    for (int64_t i = 0; i < inner; ++i) {
      f(o);
      for (size_t k = 0; k < N; ++k) o[k] += inner_stride[k];
    }
    // advance the outer index (odometer)
    for (size_t d = nd - 1; d-- > 0;) {
      idx[d]++;
      for (size_t k = 0; k < N; ++k) off[k] += (*strides[k])[d];
      if (idx[d] < shape[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= (*strides[k])[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// Strides of a tensor of shape `from` seen as broadcast to `to` (0 on broadcast dims).
inline Shape broadcast_strides(const Shape& from, const Shape& from_strides, const Shape& to) {
  Shape s(to.size(), 0);
  size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) s[lead + i] = from[i] == 1 && to[lead + i] != 1 ? 0 : from_strides[i];
  return s;
}

}  // namespace sono
