#pragma once
// Device discovery and selection for the CUDA backend.
namespace sono::cuda {

// Number of usable CUDA devices; 0 when there is no GPU or no driver.
int device_count();
// Throws sono::Error "cuda:N requested but M CUDA devices found (...)" unless
// device N exists.
void check_device(int index);

// Makes `index` the current device for this thread and restores the previous
// one on scope exit (CUDA runtime calls act on the current device).
class DeviceGuard {
 public:
  explicit DeviceGuard(int index);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace sono::cuda
