#include "layers/fusion.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace sono::nn {

namespace {

bool from_environment() {
  const char* v = std::getenv("SONO_FUSED_OPS");
  if (v == nullptr || std::strcmp(v, "1") == 0) return true;
  SONO_CHECK(std::strcmp(v, "0") == 0, "SONO_FUSED_OPS", "must be 0 (unfused ops) or 1 (fused ops, the default), got '",
             v, "'");
  return false;
}

std::atomic<bool>& fused() {
  static std::atomic<bool> on{from_environment()};
  return on;
}

}  // namespace

bool fused_ops_enabled() { return fused().load(std::memory_order_relaxed); }
void set_fused_ops_enabled(bool on) { fused().store(on, std::memory_order_relaxed); }

}  // namespace sono::nn
