// Range of an i64 class-index target on a cuda device (see ops/loss.h).
//
// Math: min_i y_i and max_i y_i, returned to the host (the caller names a
// class outside [0, C) in its error message).
// Layout: target contiguous i64.
// Launch: two deterministic two-pass reductions (reduce_items) into a
// two-element device buffer, then one synchronous copy to the host.
// Outputs: *min and *max (host) are overwritten.
#include <limits>
#include <vector>

#include "core/cuda/launch.h"
#include "ops/cuda/block_reduce.cuh"
#include "ops/loss.h"

namespace sono::cuda {

namespace {

struct Load {
  const int64_t* y;
  __device__ int64_t operator()(int64_t i) const { return y[i]; }
};

struct Store {
  int64_t* out;
  __device__ void operator()(int64_t v) const { out[0] = v; }
};

}  // namespace

void class_index_range(const Tensor& target, int64_t* min, int64_t* max) {
  const int device = target.device().index;
  Tensor range = Tensor::empty({2}, DType::I64, target.device());
  int64_t* r = range.data<int64_t>();
  const Load load{target.data<int64_t>()};
  reduce_items(device, target.numel(), load, MinOp{}, std::numeric_limits<int64_t>::max(), Store{r});
  reduce_items(device, target.numel(), load, MaxOp{}, std::numeric_limits<int64_t>::min(), Store{r + 1});
  const std::vector<int64_t> host = range.to_vector<int64_t>();
  *min = host[0];
  *max = host[1];
}

}  // namespace sono::cuda
