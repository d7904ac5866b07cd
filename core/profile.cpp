#include "core/profile.h"

#include <algorithm>
#include <map>
#include <mutex>

namespace sono::profile {

namespace detail {
std::atomic<bool> g_enabled{false};
}

namespace {

std::mutex g_mutex;
std::map<std::string, Entry>& table() {
  static std::map<std::string, Entry> t;
  return t;
}
thread_local Scope* t_current = nullptr;
thread_local std::string t_detail;

}  // namespace

void set_enabled(bool on) { detail::g_enabled.store(on); }

void set_detail(std::string d) { t_detail = std::move(d); }

std::vector<Entry> entries() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::vector<Entry> out;
  for (const auto& kv : table()) out.push_back(kv.second);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.seconds > b.seconds; });
  return out;
}

void reset() {
  std::lock_guard<std::mutex> lock(g_mutex);
  table().clear();
}

void Scope::begin(const char* name) {
  open_ = true;
  name_ = name;
  if (!t_detail.empty()) {
    name_ += " " + t_detail;
    t_detail.clear();
  }
  parent_ = t_current;
  t_current = this;
  start_ = std::chrono::steady_clock::now();
}

void Scope::end() {
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  t_current = parent_;
  if (parent_) parent_->children_ += total;
  std::lock_guard<std::mutex> lock(g_mutex);
  Entry& e = table()[name_];
  e.name = name_;
  e.calls += 1;
  e.seconds += total - children_;
}

}  // namespace sono::profile
