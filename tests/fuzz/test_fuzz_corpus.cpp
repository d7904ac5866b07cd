#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_targets.h"

namespace fs = std::filesystem;

namespace {

// Replays fuzz/corpus/<target>/ (the kept corpus of fuzz/run.sh, which runs the
// same entry point under libFuzzer) in the normal test build: every input must
// be accepted or refused with sono::Error (the entry point returns false),
// never crash or throw anything else. Returns the files accepted.
int replay(const char* target, bool (*fuzz_entry)(const uint8_t*, size_t), int min_files) {
  const fs::path corpus = fs::path(SONO_TEST_DATA_DIR) / ".." / ".." / "fuzz" / "corpus" / target;
  REQUIRE_MESSAGE(fs::is_directory(corpus), corpus.string());
  int files = 0, accepted = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    std::ifstream f(entry.path(), std::ios::binary);
    REQUIRE_MESSAGE(f, entry.path().string());
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ++files;
    INFO(entry.path().string());
    accepted += fuzz_entry(bytes.data(), bytes.size()) ? 1 : 0;
  }
  CHECK(files >= min_files);
  CHECK(accepted > 0);
  MESSAGE(std::string(target), ": ", files, " corpus files: ", accepted, " accepted, ", files - accepted,
          " refused with sono::Error");
  return accepted;
}

}  // namespace

TEST_CASE("torch_checkpoint: the fuzz corpus parses or fails cleanly") {
  replay("torch_checkpoint", sono::fuzz::torch_checkpoint, 10);
}
TEST_CASE("safetensors: the fuzz corpus parses or fails cleanly") { replay("safetensors", sono::fuzz::safetensors, 4); }
TEST_CASE("image_resize: the fuzz corpus decodes and resizes or fails cleanly") {
  replay("image_resize", sono::fuzz::image_resize, 10);
}
TEST_CASE("csv_dataset: the fuzz corpus reads and batches or fails cleanly") {
  replay("csv_dataset", sono::fuzz::csv_dataset, 5);
}
TEST_CASE("prediction_json: the fuzz corpus parses or fails cleanly") {
  replay("prediction_json", sono::fuzz::prediction_json, 5);
}
