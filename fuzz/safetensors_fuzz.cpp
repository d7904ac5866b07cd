// libFuzzer target for the safetensors reader (io/safetensors.h). The reader
// takes a path, so each input is written to the scratch folder first
// (fuzz/fuzz_targets.h for the rules).
#include "core/error.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/touch_tensors.h"
#include "io/safetensors.h"

namespace sono::fuzz {

bool safetensors(const uint8_t* data, size_t size) {
  const std::string path = write_scratch_file("input.safetensors", data, size);
  try {
    touch_tensors(sono::nn::read_safetensors(path).tensors);
    return true;
  } catch (const sono::Error&) {
    return false;
  }
}

}  // namespace sono::fuzz

SONO_FUZZ_TARGET(safetensors)
