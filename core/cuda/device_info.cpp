// cuda_info() of core/device_info.h for CUDA builds. Library versions need no
// GPU; cudaMemGetInfo creates the device's context (the first call costs a
// fraction of a second).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "core/cuda/runtime.h"
#include "core/device_info.h"
#include "core/error.h"

namespace sono {

namespace {

// CUDA's encoding: 1000 * major + 10 * minor.
std::string cuda_version(int v) { return v ? str_cat(v / 1000, ".", v % 1000 / 10) : "none"; }

// cuDNN 9: major * 10000 + minor * 100 + patch; cuDNN 8 and older: major * 1000 + minor * 100 + patch.
std::string cudnn_version(size_t v) {
  if (v >= 90000) return str_cat(v / 10000, ".", v % 10000 / 100, ".", v % 100);
  return str_cat(v / 1000, ".", v % 1000 / 100, ".", v % 100);
}

std::string cublas_version() {
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) != CUBLAS_STATUS_SUCCESS) return "unknown";
  cublasGetProperty(MINOR_VERSION, &minor);
  cublasGetProperty(PATCH_LEVEL, &patch);
  return str_cat(major, ".", minor, ".", patch);
}

}  // namespace

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);  // 0 where no driver is installed
  info.runtime = cuda_version(runtime);
  info.driver = cuda_version(driver);
  info.cudnn = cudnn_version(cudnnGetVersion());
  info.cublas = cublas_version();
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // not sticky: clear it for later calls
    info.error =
        str_cat("cudaGetDeviceCount: ", cudaGetErrorString(err), "; this machine has no usable GPU or NVIDIA driver");
    return info;
  }
  if (count == 0) {
    info.error = "no CUDA device found";
    return info;
  }
  for (int i = 0; i < count; ++i) {
    GpuInfo g;
    g.index = i;
    cudaDeviceProp p{};
    cudaError_t e = cudaGetDeviceProperties(&p, i);
    if (e != cudaSuccess) {
      cudaGetLastError();
      g.error = str_cat("cudaGetDeviceProperties: ", cudaGetErrorString(e));
      info.devices.push_back(g);
      continue;
    }
    g.name = p.name;
    g.major = p.major;
    g.minor = p.minor;
    g.sms = p.multiProcessorCount;
    g.total_bytes = p.totalGlobalMem;
    try {
      cuda::DeviceGuard guard(i);
      size_t free = 0, total = 0;
      e = cudaMemGetInfo(&free, &total);
      if (e == cudaSuccess) {
        g.free_bytes = free;
        g.total_bytes = total;
      } else {
        cudaGetLastError();
        g.error = str_cat("cudaMemGetInfo: ", cudaGetErrorString(e));
      }
    } catch (const Error& x) {
      g.error = x.what();
    }
    info.devices.push_back(g);
  }
  return info;
}

}  // namespace sono
