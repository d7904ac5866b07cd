// Range of an i64 class-index target on a cuda device (see ops/loss.h).
//
// Math: min_i y_i and max_i y_i, returned to the host (the caller names a
// class outside [0, C) in its error message).
// Layout: target contiguous i64.
// Launch: two deterministic two-pass reductions (reduce_items) into a
// two-element device buffer, then one synchronous copy to the host.
// Outputs: *min and *max (host) are overwritten.
//
// class_index_check: the same two reductions, then one thread compares the
// range with [0, classes) and reports a failure into the check flag
// (core/device_check.h); nothing is copied to the host.
#include <limits>
#include <vector>

#include "core/cuda/device_check.cuh"
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

struct ReportRange {
  const int64_t* range;  // {min, max}
  int64_t classes, id;
  int64_t* flag;
  __device__ void operator()(int64_t) const {
    const int64_t lo = range[0], hi = range[1];
    if (lo < 0 || hi >= classes) report_check_failure(flag, id, lo < 0 ? lo : hi, -1);
  }
};

// {min, max} of the target into r (device).
void min_max(const Tensor& target, int64_t* r) {
  const Load load{target.data<int64_t>()};
  reduce_items(target.device().index, target.numel(), load, MinOp{}, std::numeric_limits<int64_t>::max(), Store{r});
  reduce_items(target.device().index, target.numel(), load, MaxOp{}, std::numeric_limits<int64_t>::min(), Store{r + 1});
}

}  // namespace

void class_index_range(const Tensor& target, int64_t* min, int64_t* max) {
  Tensor range = Tensor::empty({2}, DType::I64, target.device());
  min_max(target, range.data<int64_t>());
  const std::vector<int64_t> host = range.to_vector<int64_t>();
  *min = host[0];
  *max = host[1];
}

void class_index_check(const Tensor& target, int64_t classes, int64_t id, int64_t* flag) {
  Tensor range = Tensor::empty({2}, DType::I64, target.device());
  min_max(target, range.data<int64_t>());
  parallel_for(target.device().index, 1, ReportRange{range.data<int64_t>(), classes, id, flag});
}

}  // namespace sono::cuda
