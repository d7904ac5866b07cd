// The minimum and maximum of an i64 class-index target (contiguous), and the
// check built on them, so the losses can name an out-of-range class before
// reading with it.
#include <algorithm>

#include "core/device_check.h"

#include "ops/loss.h"

namespace sono::cpu {

void class_index_range(const Tensor& target, int64_t* min, int64_t* max) {
  const int64_t* y = target.data<int64_t>();
  const int64_t n = target.numel();
  int64_t lo = y[0], hi = y[0];
#pragma omp parallel for simd reduction(min : lo) reduction(max : hi) if (worth_parallel(n))
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, y[i]);
    hi = std::max(hi, y[i]);
  }
  *min = lo;
  *max = hi;
}

void class_index_check(const Tensor& target, int64_t classes, int64_t id, int64_t* flag) {
  int64_t lo = 0, hi = 0;
  class_index_range(target, &lo, &hi);
  if (lo < 0 || hi >= classes) report_check_failure(flag, id, lo < 0 ? lo : hi, -1);
}

}  // namespace sono::cpu
