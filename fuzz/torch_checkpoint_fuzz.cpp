// libFuzzer target for the PyTorch checkpoint reader (io/torch_checkpoint.h),
// both formats (fuzz/fuzz_targets.h for the rules).
#include "core/error.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/touch_tensors.h"
#include "io/torch_checkpoint.h"

namespace sono::fuzz {

bool torch_checkpoint(const uint8_t* data, size_t size) {
  sono::nn::TorchCheckpointOptions options;
  // Options vary with the input length so one run covers them all. The CRC
  // check is mostly off: mutated zip records would rarely get past it.
  options.verify_crc32 = size % 4 == 0;
  options.skip_non_tensors = size % 2 == 1;
  options.unwrap_keys = {"state_dict", "model"};
  options.limits.max_output_bytes = uint64_t(16) << 20;  // keeps each execution fast
  try {
    touch_tensors(sono::nn::parse_torch_checkpoint(data, size, "fuzz input", options).tensors);
    return true;
  } catch (const sono::Error&) {
    return false;  // a clean rejection
  }
}

}  // namespace sono::fuzz

SONO_FUZZ_TARGET(torch_checkpoint)
