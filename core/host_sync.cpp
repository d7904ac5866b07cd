#include "core/host_sync.h"

namespace sono {

namespace {
thread_local HostSyncCounts t_counts;
thread_local int t_kernel_depth = 0;
}  // namespace

void count_host_sync(HostSync kind) {
  switch (kind) {
    case HostSync::ReadBack: ++t_counts.read_backs; break;
    case HostSync::BlockingCopy: ++t_counts.blocking_copies; break;
    case HostSync::StreamSync: ++t_counts.stream_syncs; break;
    case HostSync::DeviceSync: ++t_counts.device_syncs; break;
  }
}

HostSyncCounts host_sync_counts() { return t_counts; }

HostSyncCounts HostSyncCounter::counts() const {
  const HostSyncCounts now = host_sync_counts();
  HostSyncCounts d;
  d.read_backs = now.read_backs - start_.read_backs;
  d.blocking_copies = now.blocking_copies - start_.blocking_copies;
  d.stream_syncs = now.stream_syncs - start_.stream_syncs;
  d.device_syncs = now.device_syncs - start_.device_syncs;
  return d;
}

KernelScope::KernelScope() { ++t_kernel_depth; }
KernelScope::~KernelScope() { --t_kernel_depth; }
bool in_cpu_kernel() { return t_kernel_depth > 0; }

}  // namespace sono
