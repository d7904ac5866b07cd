#pragma once
// A per-op profiler for the CPU: wall time per kernel entry point (every
// SONO_DISPATCH_DEVICE call, named after the backend function, e.g.
// "conv2d_forward 1x1") and per autograd node in backward ("bwd:<Node>"),
// each scope counting its exclusive time (its children's scopes subtracted),
// so the entries add up to the profiled time they cover.
//
// Off by default; when off, a scope costs one relaxed load and a branch.
// `sono bench --profile` turns it on around one forward and one training step
// (tools/profile_compare.py sets it side by side with torch.profiler).
// On CUDA the times are the host's (kernel launches), not the device's.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace sono::profile {

namespace detail {
extern std::atomic<bool> g_enabled;
}

inline bool enabled() { return detail::g_enabled.load(std::memory_order_relaxed); }
void set_enabled(bool on);

struct Entry {
  std::string name;
  int64_t calls = 0;
  double seconds = 0;  // exclusive
};
// Every entry so far, largest time first; reset() clears them.
std::vector<Entry> entries();
void reset();

// A detail appended to the name of the next scope opened on this thread
// ("1x1", "depthwise 3x3", ...): lets an op classify its kernel call.
void set_detail(std::string detail);

class Scope {
 public:
  explicit Scope(const char* name) {
    if (enabled()) begin(name);
  }
  explicit Scope(const std::string& name) {
    if (enabled()) begin(name.c_str());
  }
  ~Scope() {
    if (open_) end();
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  void begin(const char* name);
  void end();

  bool open_ = false;
  std::string name_;
  std::chrono::steady_clock::time_point start_;
  double children_ = 0;  // seconds spent in scopes opened inside this one
  Scope* parent_ = nullptr;
};

}  // namespace sono::profile
