#include "core/device_info.h"

#include "core/device.h"

namespace sono {

#if !SONO_WITH_CUDA
CudaInfo cuda_info() {
  CudaInfo info;
  info.error =
      "this build of Sono has no CUDA backend (configure with -DSONO_CUDA=ON on a machine with the CUDA toolkit)";
  return info;
}
#endif

}  // namespace sono
