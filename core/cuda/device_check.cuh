#pragma once
// The device side of core/device_check.h: a checking kernel's report of a
// failure. The first report wins (atomicCAS on slot 0), so concurrent threads
// and later checks never overwrite it.
#include <cstdint>

namespace sono::cuda {

__device__ inline void report_check_failure(int64_t* flag, int64_t id, int64_t value, int64_t where) {
  auto* slot = reinterpret_cast<unsigned long long*>(flag);
  if (atomicCAS(slot, 0ull, static_cast<unsigned long long>(id + 1)) == 0ull) {
    flag[1] = value;
    flag[2] = where;
  }
}

}  // namespace sono::cuda
