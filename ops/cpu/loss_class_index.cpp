// The minimum and maximum of an i64 class-index target (contiguous), and the
// check built on them, so the losses can name an out-of-range class before
// reading with it.
#include <algorithm>

#include "core/device_check.h"

#include "core/parallel.h"
#include "ops/loss.h"

namespace sono::cpu {

void class_index_range(const Tensor& target, int64_t* min, int64_t* max) {
  const int64_t* y = target.data<int64_t>();
  const int64_t n = target.numel();
  // Per-chunk extremes, then theirs: min and max do not depend on the order.
  const int64_t chunk = worth_parallel(n) ? parallel_chunk(n) : n, chunks = (n + chunk - 1) / chunk;
  std::vector<int64_t> lo(size_t(chunks), y[0]), hi(size_t(chunks), y[0]);
  parallel_for_chunks(n, chunk, [&](int64_t i0, int64_t i1) {
    int64_t l = y[i0], h = y[i0];
#pragma omp simd reduction(min : l) reduction(max : h)
    for (int64_t i = i0; i < i1; ++i) {
      l = std::min(l, y[i]);
      h = std::max(h, y[i]);
    }
    lo[size_t(i0 / chunk)] = l;
    hi[size_t(i0 / chunk)] = h;
  });
  *min = *std::min_element(lo.begin(), lo.end());
  *max = *std::max_element(hi.begin(), hi.end());
}

void class_index_check(const Tensor& target, int64_t classes, int64_t id, int64_t* flag) {
  int64_t lo = 0, hi = 0;
  class_index_range(target, &lo, &hi);
  if (lo < 0 || hi >= classes) report_check_failure(flag, id, lo < 0 ? lo : hi, -1);
}

}  // namespace sono::cpu
