#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "tests/support/check.h"
#include "train/model_io.h"

using namespace sono;
namespace fs = std::filesystem;

TEST_CASE("model_io: a weights file whose safetensors header length begins with 0x80 is read as safetensors") {
  // Header length 640 = 0x280: the file starts 80 02, the bytes of a protocol-2
  // pickle; predict, convert and train --pretrained used to refuse it.
  const std::string path = (fs::temp_directory_path() / (std::to_string(::getpid()) + "_x80.safetensors")).string();
  nn::write_safetensors(path, {{"t", Tensor::full({2}, 0.25)}}, {{"pad", std::string(560, 'x')}});
  {
    std::ifstream in(path, std::ios::binary);
    char head[2] = {};
    in.read(head, 2);
    REQUIRE(uint8_t(head[0]) == 0x80);
    REQUIRE(uint8_t(head[1]) == 0x02);
  }
  const nn::SafetensorsFile f = read_weights_file(path);
  REQUIRE(f.tensors.size() == 1);
  CHECK(f.tensors[0].first == "t");
  CHECK(test::values(f.tensors[0].second) == std::vector<double>(2, 0.25));
  CHECK(f.metadata.at("pad").size() == 560);
  fs::remove(path);
}

TEST_CASE("model_io: a weights file of no known format is an error naming it") {
  const std::string path = (fs::temp_directory_path() / (std::to_string(::getpid()) + "_junk.pth")).string();
  std::ofstream(path, std::ios::binary) << "\x80\xa3 junk";
  const std::string want = path + ": unknown format";
  CHECK_THROWS_WITH_AS(read_weights_file(path), doctest::Contains(want.c_str()), Error);
  fs::remove(path);
}
