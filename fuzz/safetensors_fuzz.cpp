// libFuzzer target for the safetensors reader (io/safetensors.h). The reader
// takes a path, so each input is written to the scratch folder first
// (fuzz/fuzz_targets.h for the rules).
#include "core/error.h"
#include "fuzz/fuzz_targets.h"
#include "io/safetensors.h"

namespace sono::fuzz {

bool safetensors(const uint8_t* data, size_t size) {
  const std::string path = write_scratch_file("input.safetensors", data, size);
  try {
    sono::nn::SafetensorsFile f = sono::nn::read_safetensors(path);
    // Touch the first and last byte of every tensor: a wrong size shows up under ASan.
    for (const auto& [name, t] : f.tensors) {
      if (t.numel() == 0) continue;
      const auto* p = static_cast<const volatile uint8_t*>(t.raw_data());
      (void)p[0];
      (void)p[size_t(t.numel()) * sono::dtype_size(t.dtype()) - 1];
    }
    return true;
  } catch (const sono::Error&) {
    return false;
  }
}

}  // namespace sono::fuzz

SONO_FUZZ_TARGET(safetensors)
