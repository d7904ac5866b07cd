#include "tasks/kind_support.h"

#include <cmath>

#include "ops/reduce.h"

namespace sono::tasks::detail {

std::vector<double> numbers(const nlohmann::json& j, const std::string& key, const std::string& where) {
  SONO_CHECK(j.contains(key) && j[key].is_array(), "evaluate", where, ": '", key, "' must be a list of numbers");
  const nlohmann::json& list = j[key];
  std::vector<double> out;
  for (size_t i = 0; i < list.size(); ++i) {
    SONO_CHECK(list[i].is_number(), "evaluate", where, ": ", key, "[", i, "] is ",
               list[i].is_null() ? std::string("null (a NaN when written)") : "not a number: " + list[i].dump(),
               "; every value must be a finite number");
    out.push_back(list[i].get<double>());
    SONO_CHECK(std::isfinite(out.back()), "evaluate", where, ": ", key, "[", i, "] is not finite");
  }
  return out;
}

std::vector<int64_t> argmax_classes(const Tensor& logits) {
  return argmax(logits.detach(), 1).to(Device::cpu()).contiguous().to_vector<int64_t>();
}

}  // namespace sono::tasks::detail
