#include "core/precision.h"

#include <atomic>

#include "core/error.h"

namespace sono {

namespace {
std::atomic<Precision> g_precision{Precision::FP32};
}  // namespace

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::TF32: return "tf32";
    case Precision::BF16: return "bf16";
    case Precision::FP32: break;
  }
  return "fp32";
}

Precision parse_precision(const std::string& s, const std::string& what) {
  if (s == "fp32") return Precision::FP32;
  if (s == "tf32") return Precision::TF32;
  if (s == "bf16") return Precision::BF16;
  throw Error(str_cat(what, ": unknown precision '", s, "' (expected fp32, tf32 or bf16)"));
}

void set_precision(Precision p) { g_precision.store(p); }
Precision precision() { return g_precision.load(); }

}  // namespace sono
