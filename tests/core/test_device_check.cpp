// core/device_check.h on the CPU: a failure a checking kernel reports is
// thrown by end_device_check with its check's message; the first failure
// wins; checks that passed are forgotten and the flag is clear afterwards.
// (On CUDA the same failures come with the next read-back:
// tests/train/cuda/test_host_sync_cuda.cpp.)
#include <doctest/doctest.h>

#include "core/device_check.h"
#include "core/error.h"

using namespace sono;

namespace {

DeviceCheck named(const char* what) {
  return begin_device_check(Device::cpu(), [what](int64_t v, int64_t b) { return str_cat(what, " ", v, " at ", b); });
}

}  // namespace

TEST_CASE("device check: a passing check throws nothing and leaves the flag clear") {
  DeviceCheck c = named("ok");
  CHECK(c.flag[0] == 0);
  CHECK_NOTHROW(end_device_check(Device::cpu()));
  CHECK(pending_check_flag(Device::cpu()) == nullptr);  // the CPU's verdict is never deferred
}

TEST_CASE("device check: the reported failure is thrown with its check's message, once") {
  DeviceCheck a = named("first");
  DeviceCheck b = named("second");
  CHECK(b.id == a.id + 1);
  report_check_failure(b.flag, b.id, 7, 2);
  report_check_failure(a.flag, a.id, 9, 1);  // a later report does not replace the first
  CHECK_THROWS_WITH_AS(end_device_check(Device::cpu()), "second 7 at 2", Error);
  DeviceCheck c = named("next");
  CHECK(c.id == 0);  // the failed checks are gone
  CHECK(c.flag[0] == 0);
  CHECK_NOTHROW(end_device_check(Device::cpu()));
}
