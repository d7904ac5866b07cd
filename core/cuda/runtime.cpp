#include "core/cuda/runtime.h"

#include <string>

#include "core/cuda/check.h"
#include "core/error.h"

namespace sono::cuda {

void throw_call_error(const char* library, const char* call, const char* file, int line, const char* message) {
  throw Error(str_cat(library, " error: ", call, " failed at ", file, ":", line, ": ", message));
}

namespace {
// Queried once: the answer cannot change while the process runs, and the
// failure reason (e.g. no driver) is kept for the error message.
struct DeviceCount {
  int count = 0;
  std::string reason;
  DeviceCount() {
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      count = 0;
      reason = cudaGetErrorString(err);
      cudaGetLastError();  // not sticky: clear it so the next checked call does not report it
    }
  }
};
const DeviceCount& counted() {
  static const DeviceCount c;
  return c;
}
}  // namespace

int device_count() { return counted().count; }

void check_device(int index) {
  const DeviceCount& c = counted();
  if (index >= 0 && index < c.count) return;
  std::string why = c.reason.empty() ? "" : " (cudaGetDeviceCount: " + c.reason + ")";
  if (c.count == 0) why += "; this machine has no usable GPU or NVIDIA driver: run on cpu";
  throw Error(
      str_cat("cuda:", index, " requested but ", c.count, " CUDA device", c.count == 1 ? "" : "s", " found", why));
}

DeviceGuard::DeviceGuard(int index) {
  SONO_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != index) SONO_CUDA_CHECK(cudaSetDevice(index));
}

DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
}

}  // namespace sono::cuda
