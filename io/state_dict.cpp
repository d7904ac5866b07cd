#include "io/state_dict.h"

#include <cmath>
#include <unordered_map>

#include "core/autograd.h"

namespace sono::nn {

namespace {
std::string join_list(const std::vector<std::string>& items) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + items[i];
  return s + "]";
}

std::string short_describe(const Tensor& t) { return str_cat(dtype_name(t.dtype()), shape_str(t.shape())); }

// "3 of 54 values NaN or infinite, the first at element 7"; "" when all are
// finite. A NaN weight would only surface later as a NaN loss or prediction.
std::string non_finite(const Tensor& t) {
  if (!is_floating(t.dtype()) || t.numel() == 0) return "";
  const Tensor h = t.detach().to(Device::cpu()).contiguous();
  int64_t count = 0, first = -1;
  dispatch_all(h.dtype(), "load_state_dict", [&](auto tag) {
    using T = SONO_TYPE(tag);
    const T* p = static_cast<const T*>(h.raw_data());
    for (int64_t i = 0; i < h.numel(); ++i)
      if (!std::isfinite(scalar_cast<double>(p[i]))) {
        if (first < 0) first = i;
        ++count;
      }
  });
  return count ? str_cat(count, " of ", h.numel(), " values NaN or infinite, the first at element ", first) : "";
}
}  // namespace

LoadReport copy_state_dict(const NamedTensors& targets, const NamedTensors& tensors, const LoadOptions& options,
                           const std::string& target_name) {
  std::unordered_map<std::string, const Tensor*> source;
  std::vector<std::string> duplicated;
  for (const auto& kv : tensors)
    if (!source.emplace(kv.first, &kv.second).second) duplicated.push_back(kv.first);

  LoadReport report;
  std::vector<std::string> mismatched, non_finite_values;
  std::vector<std::pair<Tensor, const Tensor*>> copies;
  std::unordered_map<std::string, bool> known;
  for (const auto& kv : targets) {
    known[kv.first] = true;
    auto it = source.find(kv.first);
    if (it == source.end()) {
      report.missing.push_back(kv.first);
      continue;
    }
    const Tensor& src = *it->second;
    const Tensor& dst = kv.second;
    const bool dtype_ok =
        src.defined() && (src.dtype() == dst.dtype() ||
                          (options.allow_float_conversion && is_floating(src.dtype()) && is_floating(dst.dtype())));
    if (!src.defined() || src.shape() != dst.shape() || !dtype_ok) {
      mismatched.push_back(str_cat(kv.first, ": source ", src.defined() ? short_describe(src) : "undefined",
                                   " vs model ", short_describe(dst)));
      continue;
    }
    const std::string bad_values = non_finite(src);
    if (!bad_values.empty()) {
      non_finite_values.push_back(str_cat(kv.first, ": ", bad_values));
      continue;
    }
    copies.emplace_back(dst, &src);
  }
  for (const auto& kv : tensors)
    if (!known.count(kv.first)) report.unexpected.push_back(kv.first);

  std::string problems;
  auto add = [&](const std::vector<std::string>& list, const char* what) {
    if (list.empty()) return;
    problems += str_cat(problems.empty() ? "" : "; ", list.size(), " ", what, ": ", join_list(list));
  };
  if (options.strict) {
    add(report.missing, "missing");
    add(report.unexpected, "unexpected");
  }
  add(mismatched, "mis-shaped or wrong dtype");
  add(non_finite_values, "with NaN or infinite values");
  add(duplicated, "given more than once");
  if (!problems.empty())
    throw Error(str_cat("load_state_dict: ", options.source, " into ", target_name, ": ", problems));

  {
    NoGradGuard ng;
    for (auto& c : copies) c.first.copy_(*c.second);
  }
  report.loaded = int64_t(copies.size());
  return report;
}

}  // namespace sono::nn
