#include "ops/dispatch.h"

namespace sono {
void throw_no_cuda_kernel(const char* op, const Tensor& t) {
  if (!cuda_compiled())
    throw Error(str_cat(op, ": ", t.describe(), " is on a cuda device but this build has no CUDA backend"));
  throw Error(str_cat(op, ": no CUDA kernel for this op yet (input ", t.describe(), ")"));
}
}  // namespace sono
