#pragma once
// Validity checks of data that lives on a device (class indices, gather
// cells), judged by the device so that checking never makes the host wait.
//
// A checking kernel reports a failure into its device's error flag, three
// int64 values: {1 + id of the failed check, the bad value, where it is (a
// sample, or -1)}; slot 0 is 0 while nothing failed, and the first failure is
// kept. The host keeps each pending check's message maker, so the error
// reads as it always did (naming the tensor, the sample, the value).
//
//   DeviceCheck c = begin_device_check(dev, message);  // a pending check and its flag
//   ...dispatch the check kernel with c.id, c.flag...
//   end_device_check(dev);
//
// The same path on both backends; only the moment the flag is read differs:
// - CPU: end_device_check reads the flag at once and throws the failure from
//   the op that checked, as an immediate check would;
// - CUDA: the flag is read together with the next read-back to the host
//   (copy_bytes device -> host, e.g. the step's loss.item(), one wait for
//   both), which throws the first failure's message instead of returning.
//   The kernels that use checked indices run before the verdict is known, so
//   they must stay inside their buffers for bad indices (their results are
//   never returned: the read-back throws).
// CPU state is per thread; cuda state is per device.
#include <cstdint>
#include <functional>
#include <string>

#include "core/device.h"

namespace sono {

// The error message of a failed check from its bad value and where.
using DeviceCheckMessage = std::function<std::string(int64_t value, int64_t where)>;

struct DeviceCheck {
  int64_t id = 0;           // what the kernel writes (+ 1) into flag[0]
  int64_t* flag = nullptr;  // three int64 in `device`'s memory
};

DeviceCheck begin_device_check(Device device, DeviceCheckMessage message);
// CPU: throws sono::Error with the message of a failure the kernel reported.
// CUDA: nothing (the verdict comes with the next read-back).
void end_device_check(Device device);

// For the read-back (core/allocator.cpp): `device`'s flag when checks are
// pending on it, else null.
const int64_t* pending_check_flag(Device device);
// After a read-back that also copied that flag to `host_flag`: throws the
// first failure's message (and clears the flag), or forgets the passed checks.
void resolve_device_checks(Device device, const int64_t host_flag[3]);

// What a checking kernel does on failure (host code of the CPU kernels;
// CUDA kernels write the same three values with atomicCAS on slot 0).
inline void report_check_failure(int64_t* flag, int64_t id, int64_t value, int64_t where) {
  if (flag[0] != 0) return;
  flag[0] = id + 1;
  flag[1] = value;
  flag[2] = where;
}

}  // namespace sono
