#include "optim/adamw.h"

#include <algorithm>
#include <set>
#include <utility>

namespace sono {

AdamW::AdamW(std::vector<ParamGroup> groups) : groups_(std::move(groups)) {
  std::set<std::string> seen;
  for (const auto& g : groups_)
    for (const Tensor& p : g.params) {
      SONO_CHECK(p.defined() && p.is_leaf() && p.requires_grad(), "AdamW", "group '", g.name,
                 "': every parameter must be a leaf that requires grad, got ", describe(p));
      SONO_CHECK(p.dtype() == DType::F32, "AdamW", "parameter ", p.describe(), " must be f32");
      SONO_CHECK(!p.name().empty(), "AdamW", "parameter ", p.describe(), " has no name (needed for its state)");
      SONO_CHECK(seen.insert(p.name()).second, "AdamW", "parameter '", p.name(), "' appears in two groups");
    }
}

void AdamW::step() {
  // Every gradient is checked before any state changes, so a bad one leaves
  // the optimizer as it was.
  std::vector<std::pair<const ParamGroup*, Tensor>> stepping;
  for (const auto& group : groups_) {
    for (const Tensor& p : group.params) {
      Tensor g = p.grad();
      if (!g.defined()) continue;  // absent gradient: this parameter sits the step out
      SONO_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(), "AdamW", "gradient ",
                 g.describe(), " does not match parameter ", p.describe());
      SONO_CHECK(p.is_contiguous() && g.is_contiguous(), "AdamW", "parameter ", p.describe(),
                 " and its gradient must be contiguous");
      stepping.emplace_back(&group, p);
    }
  }
  // One multi-tensor update per device, each in the order of the groups.
  std::vector<std::vector<AdamWItem>> per_device;
  for (const auto& [group, p] : stepping) {
    State& st = state_[p.name()];
    if (!st.exp_avg.defined()) {
      st.exp_avg = Tensor::zeros(p.shape(), p.dtype(), p.device());
      st.exp_avg_sq = Tensor::zeros(p.shape(), p.dtype(), p.device());
    }
    st.step += 1;
    const Device d = p.device();
    auto it = std::find_if(per_device.begin(), per_device.end(),
                           [&](const std::vector<AdamWItem>& items) { return items.front().p.device() == d; });
    if (it == per_device.end()) it = per_device.insert(per_device.end(), std::vector<AdamWItem>{});
    it->push_back(AdamWItem{p, p.grad(), st.exp_avg, st.exp_avg_sq, group->lr, group->beta1, group->beta2, group->eps,
                            group->weight_decay, st.step});
  }
  for (const auto& items : per_device) SONO_DISPATCH_DEVICE(items.front().p, "AdamW", adamw_step_multi, items);
  // New data: a bf16 copy made from the old one (core/autocast.h) is stale.
  for (const auto& entry : stepping) entry.second.storage()->bump_version();
}

void AdamW::zero_grad() {
  for (auto& g : groups_)
    for (const Tensor& p : g.params) p.reset_grad();
}

std::map<std::string, Tensor> AdamW::state_dict() const {
  std::map<std::string, Tensor> out;
  for (const auto& [name, st] : state_) {
    out[name + ".exp_avg"] = st.exp_avg.to(Device::cpu());
    out[name + ".exp_avg_sq"] = st.exp_avg_sq.to(Device::cpu());
    out[name + ".step"] = Tensor::scalar(double(st.step), DType::I64);
  }
  for (size_t i = 0; i < groups_.size(); ++i)
    out["group." + std::to_string(i) + ".lr"] = Tensor::scalar(groups_[i].lr, DType::F64);
  return out;
}

void AdamW::load_state_dict(const std::map<std::string, Tensor>& tensors) {
  auto get = [&](const std::string& key) -> const Tensor& {
    auto it = tensors.find(key);
    SONO_CHECK(it != tensors.end(), "AdamW::load_state_dict", "missing entry '", key, "'");
    return it->second;
  };
  state_.clear();
  for (size_t i = 0; i < groups_.size(); ++i) {
    groups_[i].lr = get("group." + std::to_string(i) + ".lr").item();
    for (const Tensor& p : groups_[i].params) {
      auto it = tensors.find(p.name() + ".step");
      if (it == tensors.end()) continue;  // never stepped
      State st;
      st.step = int64_t(it->second.item());
      for (auto [suffix, dst] :
           {std::pair<const char*, Tensor*>{".exp_avg", &st.exp_avg}, {".exp_avg_sq", &st.exp_avg_sq}}) {
        const Tensor& src = get(p.name() + suffix);
        SONO_CHECK(src.shape() == p.shape(), "AdamW::load_state_dict", "'", p.name(), suffix, "' is ", src.describe(),
                   " but the parameter is ", p.describe());
        *dst = src.to(DType::F32).to(p.device()).clone();
      }
      state_[p.name()] = st;
    }
  }
  std::set<std::string> known;
  for (const auto& g : groups_)
    for (const Tensor& p : g.params) known.insert(p.name());
  auto strip = [](const std::string& key) {
    for (const char* suffix : {".exp_avg_sq", ".exp_avg", ".step"}) {
      size_t n = std::char_traits<char>::length(suffix);
      if (key.size() > n && key.compare(key.size() - n, n, suffix) == 0) return key.substr(0, key.size() - n);
    }
    return key;
  };
  for (const auto& entry : tensors) {
    if (entry.first.rfind("group.", 0) == 0) continue;
    SONO_CHECK(known.count(strip(entry.first)), "AdamW::load_state_dict", "state for unknown parameter '", entry.first,
               "'");
  }
}

}  // namespace sono
