#pragma once
// Host waits on a device, counted where they are made.
//
// A GPU runs a training step fastest when the host queues the whole step and
// waits once, for the logged loss. Every place where Sono's host code waits
// for a device is one of these kinds, and each wait is counted here at the
// place it is made, so a test can assert how many waits a step makes:
//   ReadBack      host code reads a tensor's value (Tensor::item());
//   BlockingCopy  a device-to-host or device-to-device-peer copy that returns
//                 once the data has arrived (core/cuda/allocator.cpp);
//   StreamSync    cuda::synchronize(device): waits for the device's stream;
//   DeviceSync    cudaDeviceSynchronize (the allocator returning its cache).
//
// The CPU build counts the same call sites: Tensor::item() from host code is
// a read-back on every backend (on CUDA it is a blocking copy instead, counted
// once), so a CPU test of a training step sees the count a GPU step makes.
// A CPU kernel reading its own inputs (a loss backward reading grad_loss with
// item()) is the device reading its memory, not a host wait: while
// SONO_DISPATCH_DEVICE runs a CPU kernel, KernelScope marks the thread and
// item() does not count. Host-to-device copies never wait (pinned staging,
// core/cuda/host_staging.h) and are not counted.
//
// Counts are per thread: what the calling thread waited for.
#include <cstdint>

namespace sono {

enum class HostSync { ReadBack, BlockingCopy, StreamSync, DeviceSync };

struct HostSyncCounts {
  int64_t read_backs = 0, blocking_copies = 0, stream_syncs = 0, device_syncs = 0;
  int64_t total() const { return read_backs + blocking_copies + stream_syncs + device_syncs; }
};

// Called by the code that waits, once per wait.
void count_host_sync(HostSync kind);
// This thread's counts since it started.
HostSyncCounts host_sync_counts();

// The waits this thread made since construction.
class HostSyncCounter {
 public:
  HostSyncCounter() : start_(host_sync_counts()) {}
  HostSyncCounts counts() const;
  int64_t total() const { return counts().total(); }

 private:
  HostSyncCounts start_;
};

// Marks this thread as running a CPU kernel (SONO_DISPATCH_DEVICE) for its
// lifetime; nests.
class KernelScope {
 public:
  KernelScope();
  ~KernelScope();
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;
};
bool in_cpu_kernel();

}  // namespace sono
