#pragma once
// Small helpers the kinds share (tasks/*.cpp only).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace sono::tasks::detail {

// `t` on `device`; an undefined target stays undefined, for the loss to report it.
inline Tensor on(const Tensor& t, Device device) { return t.defined() ? t.to(device) : t; }

inline double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / double(v.size());
}

// A list of finite numbers from a prediction entry; `where` names the file
// and row. A null (what a NaN becomes in JSON) is an error naming its index.
std::vector<double> numbers(const nlohmann::json& j, const std::string& key, const std::string& where);

// Argmax over dim 1 of logits, on the host.
std::vector<int64_t> argmax_classes(const Tensor& logits);

}  // namespace sono::tasks::detail
