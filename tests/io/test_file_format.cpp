#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/file_format.h"
#include "io/safetensors.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::nn;
namespace fs = std::filesystem;

namespace {

std::string temp_file(const std::string& name) {
  return (fs::temp_directory_path() / ("sono_ff_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::string write_bytes(const std::string& name, const std::string& bytes) {
  const std::string path = temp_file(name);
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

std::string head_of(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string s(n, '\0');
  in.read(s.data(), std::streamsize(n));
  return s;
}

std::optional<TensorFileFormat> detect(const std::string& head, uint64_t file_size) {
  return detect_tensor_file_format(reinterpret_cast<const uint8_t*>(head.data()), head.size(), file_size);
}

std::string error_of(const std::string& path) {
  try {
    tensor_file_format(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("file_format: a safetensors file whose header length begins with the pickle opcode 0x80 is safetensors") {
  // A 640-byte header (0x280): the file starts 80 02, which also reads as
  // "pickle PROTO 2". Header lengths ending in 0x80 are 1 in 32 of the files
  // Sono writes (the header is padded to a multiple of 8).
  const std::string path = temp_file("x80.safetensors");
  write_safetensors(path, {{"t", Tensor::full({2}, 3.0)}}, {{"pad", std::string(560, 'x')}});
  REQUIRE(head_of(path, 9) == std::string("\x80\x02\0\0\0\0\0\0{", 9));
  CHECK(tensor_file_format(path) == TensorFileFormat::Safetensors);
  SafetensorsFile f = read_safetensors(path);
  REQUIRE(f.tensors.size() == 1);
  CHECK(test::values(f.tensors[0].second) == std::vector<double>{3, 3});
  fs::remove(path);
}

TEST_CASE("file_format: zip, pickle and safetensors are told apart by structure") {
  const std::string st_head = std::string("\x80\x00\0\0\0\0\0\0{", 9);  // header length 128
  CHECK(detect(st_head, 8 + 128) == TensorFileFormat::Safetensors);
  CHECK(detect(st_head, 8 + 127) == std::nullopt);                               // the header would run past the end
  CHECK(detect(std::string("\x80\x00\0\0\0\0\0\0[", 9), 1000) == std::nullopt);  // not a JSON object
  CHECK(detect(std::string("\x02\0\0\0\0\0\0\0{", 9), 10) == TensorFileFormat::Safetensors);  // "{}"
  CHECK(detect(std::string("PK\x03\x04\x14\0\0\0\0", 9), 1000) == TensorFileFormat::TorchZip);
  CHECK(detect("PK\x05\x06", 1000) == std::nullopt);  // an empty zip holds no checkpoint
  CHECK(detect(std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9", 9), 1000) == TensorFileFormat::TorchLegacy);
  for (int protocol : {2, 3, 4, 5})
    CHECK(detect(std::string("\x80") + char(protocol) + "}q", 1000) == TensorFileFormat::TorchLegacy);
  for (int protocol : {0, 1, 6, 0xa3}) CHECK(detect(std::string("\x80") + char(protocol) + "}q", 1000) == std::nullopt);
  CHECK(detect("", 0) == std::nullopt);
  CHECK(detect("\x80", 1) == std::nullopt);
}

TEST_CASE("file_format: files of the real formats on disk") {
  const std::string zip = write_bytes("a.pth", std::string("PK\x03\x04\x14\0\0\0\0\0rest of a zip", 23));
  const std::string legacy = write_bytes("b.pth", std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8", 12));
  const std::string st = temp_file("c.safetensors");
  write_safetensors(st, {{"a", Tensor::zeros({3})}});
  CHECK(tensor_file_format(zip) == TensorFileFormat::TorchZip);
  CHECK(tensor_file_format(legacy) == TensorFileFormat::TorchLegacy);
  CHECK(tensor_file_format(st) == TensorFileFormat::Safetensors);
  CHECK(std::string(tensor_file_format_name(TensorFileFormat::TorchZip)) == "PyTorch zip checkpoint");
  for (const auto& p : {zip, legacy, st}) fs::remove(p);
}

TEST_CASE("file_format: unknown formats, short, missing and non-regular files are errors naming the file") {
  const std::string garbage = write_bytes("garbage.bin", "hello world, not a tensor file");
  std::string msg = error_of(garbage);
  CAPTURE(msg);
  CHECK(msg.find(garbage) != std::string::npos);
  CHECK(msg.find("unknown format") != std::string::npos);
  CHECK(msg.find("starting 68 65 6c 6c 6f") != std::string::npos);

  const std::string proto163 = write_bytes("p163.pth", std::string("\x80\xa3 not a pickle at all", 22));
  msg = error_of(proto163);
  CHECK(msg.find(proto163) != std::string::npos);
  CHECK(msg.find("unknown format") != std::string::npos);

  // A truncated safetensors file: the message shows the header length that does not fit.
  std::string truncated = std::string("\x00\x01\0\0\0\0\0\0{\"a\":", 13);  // header length 256, 5 bytes present
  const std::string cut = write_bytes("cut.safetensors", truncated);
  msg = error_of(cut);
  CHECK(msg.find("header length 256 in a 13-byte file") != std::string::npos);

  const std::string empty = write_bytes("empty.pth", "");
  CHECK(error_of(empty).find("(empty)") != std::string::npos);
  CHECK(error_of(empty).find(empty) != std::string::npos);
  const std::string missing = temp_file("no_such_file.safetensors");
  CHECK(error_of(missing).find(missing + ": cannot open") != std::string::npos);
  CHECK(error_of(fs::temp_directory_path().string()).find("not a regular file") != std::string::npos);
  for (const auto& p : {garbage, proto163, cut, empty}) fs::remove(p);
}
