#pragma once
// Shared by the checkpoint readers' fuzz targets: a tensor whose storage is
// smaller than its shape says shows up under ASan when its first and last
// bytes are read.
#include "io/named_tensors.h"

namespace sono::fuzz {

inline void touch_tensors(const nn::NamedTensors& tensors) {
  for (const auto& kv : tensors) {
    const Tensor& t = kv.second;
    if (t.numel() == 0) continue;
    const auto* p = static_cast<const volatile uint8_t*>(t.raw_data());
    (void)p[0];
    (void)p[size_t(t.numel()) * dtype_size(t.dtype()) - 1];
  }
}

}  // namespace sono::fuzz
