#pragma once
// Element kernels over groups of consecutive elements (a sample's values, a
// plane's), shared by ops/cuda/drop_connect_add.cu and ops/cuda/se_gate.cu.
// .cu files only.
#include "core/cuda/launch.h"

namespace sono::cuda {

// f(i, g) for every element i in [0, n) of groups of `group_size` elements,
// g = i / group_size (its sample, its plane), the division in the narrowest
// index type (with_narrow_index).
template <class F, class I>
struct GroupedElement {
  F f;
  I group_size;
  __device__ void operator()(int64_t i) const { f(i, int64_t(I(i) / group_size)); }
};

template <class F>
void parallel_for_grouped(int device, int64_t n, int64_t group_size, const F& f) {
  with_narrow_index(n, [&](auto index) {
    using I = decltype(index);
    parallel_for(device, n, GroupedElement<F, I>{f, I(group_size)});
  });
}

}  // namespace sono::cuda
