#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "io/torch_checkpoint.h"

using namespace sono;
namespace fs = std::filesystem;

// Replays the fuzzer's kept corpus (fuzz/corpus, run by fuzz/run.sh under
// libFuzzer) through the reader in the normal test build: every input must
// parse or raise sono::Error, never crash or throw anything else.
TEST_CASE("torch_checkpoint: the fuzz corpus parses or fails cleanly") {
  const fs::path corpus = fs::path(SONO_TEST_DATA_DIR) / ".." / ".." / "fuzz" / "corpus";
  REQUIRE_MESSAGE(fs::is_directory(corpus), corpus.string());
  int files = 0, parsed = 0, refused = 0;
  for (const auto& entry : fs::directory_iterator(corpus)) {
    std::ifstream f(entry.path(), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ++files;
    try {
      nn::parse_torch_checkpoint(bytes.data(), bytes.size(), entry.path().filename().string());
      ++parsed;
    } catch (const Error&) {
      ++refused;
    }
  }
  CHECK(files >= 10);
  CHECK(parsed + refused == files);
  CHECK(parsed > 0);
  MESSAGE(files, " corpus files: ", parsed, " parsed, ", refused, " refused with sono::Error");
}
