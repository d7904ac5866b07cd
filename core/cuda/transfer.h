#pragma once
// The CUDA side of core/transfer.h (plain C++: no CUDA types in the interface).
#include <cstddef>
#include <vector>

namespace sono::cuda {

struct UploadItem {
  void* dst;  // device memory from the compute stream's allocator
  const void* src;
  size_t bytes;
};

// Queues the copies on `device`'s copy stream after the work queued so far on
// its compute stream; returns the event recorded after them. No host wait.
void* upload_on_copy_stream(const std::vector<UploadItem>& items, int device);
// Makes the compute stream wait for that event (no host wait) and releases it.
void order_after_upload(void* event, int device) noexcept;

}  // namespace sono::cuda
