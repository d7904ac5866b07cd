#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/device.h"

namespace sono {

// Device memory provider. The CPU allocator is built in; the CUDA backend
// registers a caching allocator for cuda devices at start-up.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  virtual Device device() const = 0;
};

// The allocator for a device; throws a clear error for cuda devices in a
// build without CUDA or when the device does not exist.
Allocator& allocator_for(Device d);
void register_cuda_allocator_factory(Allocator& (*factory)(int device_index));

// Bytes the CPU allocator has handed out (64-byte rounded) and not taken back,
// and their highest value since start or reset_cpu_peak_memory(): what CPU
// tensors hold, without the heap's own caching (train/memory_estimate.h is
// checked against it).
struct CpuMemoryStats {
  size_t allocated = 0;
  size_t peak = 0;
};
CpuMemoryStats cpu_memory_stats();
// Sets the peak to what is allocated now.
void reset_cpu_peak_memory();

// Copies bytes between any two devices (host<->device, device<->device).
// A copy to the host is a read-back: it waits for the device and returns with
// the data there, and it also reads the device's pending validity checks
// (core/device_check.h), throwing the first failure's message. Copies to a
// device do not make the host wait (core/cuda/host_staging.h).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
// The CUDA backend's copy; with `flag_src` (a device's check flag) it also
// copies those three int64 to `flag_dst` before its one wait.
using CudaCopyFn = void (*)(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes,
                            const int64_t* flag_src, int64_t* flag_dst);
void register_cuda_copy(CudaCopyFn copy);

// Reference-counted block of memory; tensors and views share one Storage.
class Storage {
 public:
  Storage(size_t bytes, Device d);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  // Counts in-place writes of the data (Tensor::fill_/copy_/add_, AdamW's
  // update), so a copy derived from it (core/autocast.h's bf16 weights) can
  // tell it is stale.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  uint64_t version_ = 0;
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
};

}  // namespace sono
