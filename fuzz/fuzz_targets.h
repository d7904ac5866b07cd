#pragma once
// The fuzz targets' entry points (fuzz/<name>_fuzz.cpp). Each feeds one input
// to one reader and returns true when it was accepted, false when it was
// refused with sono::Error; anything else (another exception, a crash, a
// sanitizer report, a leak) is a finding. libFuzzer calls them through
// SONO_FUZZ_TARGET (fuzz/CMakeLists.txt, fuzz/run.sh); the corpus replay test
// (tests/fuzz) calls them directly on every file of fuzz/corpus/<name>/.
#include <cstddef>
#include <cstdint>
#include <string>

namespace sono::fuzz {

bool torch_checkpoint(const uint8_t* data, size_t size);
bool safetensors(const uint8_t* data, size_t size);
bool image_resize(const uint8_t* data, size_t size);
bool csv_dataset(const uint8_t* data, size_t size);
bool prediction_json(const uint8_t* data, size_t size);

// A per-process scratch folder for targets whose reader wants a path
// (/dev/shm when it exists); removed at exit.
const std::string& scratch_dir();
// Writes `data` to scratch_dir()/name and returns the path.
std::string write_scratch_file(const std::string& name, const uint8_t* data, size_t size);

}  // namespace sono::fuzz

#ifdef SONO_LIBFUZZER
#define SONO_FUZZ_TARGET(fn)                                                \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    (void)::sono::fuzz::fn(data, size);                                     \
    return 0;                                                               \
  }
#else
#define SONO_FUZZ_TARGET(fn)
#endif
