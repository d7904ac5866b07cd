#include "tasks/kind_support.h"

#include "ops/reduce.h"

namespace sono::tasks::detail {

std::vector<int64_t> argmax_classes(const Tensor& logits) {
  return argmax(logits.detach(), 1).to(Device::cpu()).contiguous().to_vector<int64_t>();
}

}  // namespace sono::tasks::detail
