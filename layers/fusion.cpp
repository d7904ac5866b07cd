#include "layers/fusion.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace sono::nn {

namespace {

std::atomic<bool>& fused() {
  static std::atomic<bool> on{parse_fused_ops(std::getenv("SONO_FUSED_OPS"))};
  return on;
}

}  // namespace

bool parse_fused_ops(const char* v) {
  if (v == nullptr || std::strcmp(v, "1") == 0) return true;
  SONO_CHECK(std::strcmp(v, "0") == 0, "SONO_FUSED_OPS", "must be 0 (unfused ops) or 1 (fused ops, the default), got '",
             v, "'");
  return false;
}

bool fused_ops_enabled() { return fused().load(std::memory_order_relaxed); }
void set_fused_ops_enabled(bool on) { fused().store(on, std::memory_order_relaxed); }

}  // namespace sono::nn
