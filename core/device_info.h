#pragma once
// What the CUDA backend finds on this machine, for `sono doctor`: library
// versions, and each GPU's name, compute capability, SMs and memory. The
// queries live in core/cuda/device_info.cpp (CUDA builds); a CPU-only build
// answers "not compiled" without touching CUDA.
#include <cstdint>
#include <string>
#include <vector>

namespace sono {

struct GpuInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int sms = 0;               // streaming multiprocessors
  uint64_t free_bytes = 0, total_bytes = 0;
  std::string error;  // a query that failed for this device (its other fields may be 0)
};

struct CudaInfo {
  bool compiled = false;                       // false: the fields below are empty
  std::string runtime, driver, cudnn, cublas;  // "12.4", "9.1.0"; driver "none" without one
  std::vector<GpuInfo> devices;
  // Why `devices` is empty: the build has no CUDA backend, cudaGetDeviceCount's
  // error, or "no CUDA device found".
  std::string error;
};

CudaInfo cuda_info();

// True when tensor-core TF32 and bfloat16 math exist there: compute capability 8.0+ (Ampere).
inline bool has_tensor_core_tf32(const GpuInfo& g) { return g.major >= 8; }

}  // namespace sono
