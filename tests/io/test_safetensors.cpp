#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io/safetensors.h"
#include "tests/io/io_test_util.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::nn;
using sono::test::read_all;
using sono::test::TempDir;
namespace fs = std::filesystem;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((v >> (8 * i)) & 0xff);
  return s;
}

// A file with the given header text and data bytes.
std::string file_with(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// Expects read_safetensors(path) to throw an Error containing every fragment.
void check_rejects(const std::string& path, std::initializer_list<const char*> fragments) {
  try {
    read_safetensors(path);
    FAIL("expected an error for ", path);
  } catch (const Error& e) {
    std::string msg = e.what();
    CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
    for (const char* f : fragments) CHECK_MESSAGE(msg.find(f) != std::string::npos, msg, " lacks '", f, "'");
  }
}

const char* kEntry8 = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

}  // namespace

TEST_CASE("safetensors: round trip of every dtype, scalars, empty tensors and metadata") {
  TempDir dir;
  NamedTensors in = {
      {"f32", test::randn({2, 3}, 1, DType::F32)},
      {"f64", test::randn({4}, 2, DType::F64)},
      {"bf16", test::randn({3, 2}, 3, DType::F32).to(DType::BF16)},
      {"i64", Tensor::from_vector<int64_t>({-5, 0, std::numeric_limits<int64_t>::max()}, {3})},
      {"i32", Tensor::from_vector<int32_t>({-7, 9}, {1, 2})},
      {"u8", Tensor::from_vector<uint8_t>({0, 128, 255}, {3})},
      {"scalar", Tensor::scalar(42, DType::I64)},
      {"empty", Tensor::zeros({0, 4})},
      {"strided", test::randn({3, 4}, 4, DType::F32).permute({1, 0})},  // non-contiguous source
  };
  const std::string path = dir.file("t.safetensors");
  write_safetensors(path, in, {{"format", "pt"}, {"note", "x"}});
  SafetensorsFile out = read_safetensors(path);
  REQUIRE(out.tensors.size() == in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CAPTURE(in[i].first);
    CHECK(out.tensors[i].first == in[i].first);  // header order = write order
    const Tensor& a = out.tensors[i].second;
    const Tensor& b = in[i].second;
    CHECK(a.dtype() == b.dtype());
    CHECK(a.shape() == b.shape());
    CHECK(test::values(a) == test::values(b));  // bit-exact (bf16 included)
  }
  CHECK(out.metadata == std::map<std::string, std::string>{{"format", "pt"}, {"note", "x"}});
  // layout: 8-byte length, header padded to a multiple of 8, data
  const std::string bytes = read_all(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  CHECK(header_len % 8 == 0);
  CHECK(bytes.size() == 8 + header_len + 6 * 4 + 4 * 8 + 6 * 2 + 3 * 8 + 2 * 4 + 3 + 8 + 0 + 12 * 4);
  // no temporary file left behind
  int files = 0;
  for (auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);
}

TEST_CASE("safetensors: reads a hand-built file, F16 widened to f32 exactly") {
  TempDir dir;
  // F16 bits: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), -0, inf, NaN
  const uint16_t half[] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x7C00, 0x7E00};
  std::string data(reinterpret_cast<const char*>(half), sizeof half);
  const float f32[] = {3.5f, -1.25f};
  data += std::string(reinterpret_cast<const char*>(f32), sizeof f32);
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[2,4],"data_offsets":[0,16]},)"
      R"("x":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})";
  write_bytes(dir.file("h.safetensors"), file_with(header, data));
  SafetensorsFile f = read_safetensors(dir.file("h.safetensors"));
  REQUIRE(f.tensors.size() == 2);
  const Tensor& h = f.tensors[0].second;
  CHECK(f.tensors[0].first == "h");
  CHECK(h.dtype() == DType::F32);
  CHECK(h.shape() == Shape{2, 4});
  auto v = h.to_vector<float>();
  CHECK(v[0] == 1.0f);
  CHECK(v[1] == -2.0f);
  CHECK(v[2] == 0.5f);
  CHECK(v[3] == 65504.0f);
  CHECK(v[4] == std::ldexp(1.0f, -24));
  CHECK(v[5] == 0.0f);
  CHECK(std::signbit(v[5]));
  CHECK(std::isinf(v[6]));
  CHECK(std::isnan(v[7]));
  CHECK(f.tensors[1].second.to_vector<float>() == std::vector<float>{3.5f, -1.25f});
  CHECK(f.metadata.at("format") == "pt");
}

TEST_CASE("safetensors: truncated and corrupt files give clear errors") {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  write_bytes(p, "abc");
  check_rejects(p, {"fewer than the 8-byte"});
  write_bytes(p, le64(100) + "{}");
  check_rejects(p, {"header length 100 exceeds"});
  // absurd length: must not try to allocate it
  write_bytes(p, le64(~uint64_t(0)) + std::string(64, ' '));
  check_rejects(p, {"exceeds"});
  write_bytes(p, le64(0));
  check_rejects(p, {"too small"});
  write_bytes(p, file_with("{\"a\":", ""));
  check_rejects(p, {"not valid JSON"});
  write_bytes(p, file_with("[1,2]", ""));
  check_rejects(p, {"not an object"});
  // data shorter than the offsets claim (truncated download)
  write_bytes(p, file_with(std::string("{") + kEntry8 + "}", std::string(4, '\0')));
  check_rejects(p, {"'a'", "run past the data section"});
  CHECK_THROWS_WITH_AS(read_safetensors(dir.file("missing.safetensors")), doctest::Contains("cannot open"), Error);
}

TEST_CASE("safetensors: malformed tensor entries name the tensor") {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  const std::string d8(8, '\0');
  auto header = [](const std::string& entry) { return "{\"t\":" + entry + "}"; };
  write_bytes(p, file_with(header(R"({"dtype":"F99","shape":[2],"data_offsets":[0,8]})"), d8));
  check_rejects(p, {"'t'", "unsupported dtype 'F99'"});
  write_bytes(p, file_with(header(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), d8));
  check_rejects(p, {"'t'", "non-negative integers"});
  write_bytes(p, file_with(header(R"({"dtype":"F32","shape":[2.5],"data_offsets":[0,8]})"), d8));
  check_rejects(p, {"'t'", "non-negative integers"});
  write_bytes(p, file_with(header(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), d8));
  check_rejects(p, {"'t'", "F32 shape [3] needs 12 bytes", "span 8"});
  write_bytes(p, file_with(header(R"({"dtype":"F32","shape":[2],"data_offsets":[8,0]})"), d8));
  check_rejects(p, {"'t'", "begin > end"});
  write_bytes(p, file_with(header(R"({"dtype":"F32","shape":[2],"data_offsets":[0]})"), d8));
  check_rejects(p, {"'t'", "data_offsets"});
  write_bytes(p, file_with(header(R"({"dtype":"F32","shape":[2]})"), d8));
  check_rejects(p, {"'t'", "data_offsets"});
  write_bytes(p, file_with(header(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1})"), d8));
  check_rejects(p, {"'t'", "unknown field 'x'"});
  write_bytes(p, file_with(header("[1]"), d8));
  check_rejects(p, {"'t'", "not an object"});
  // element count that overflows 64 bits: rejected without allocating
  write_bytes(
      p, file_with(header(R"({"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]})"), d8));
  check_rejects(p, {"'t'", "more elements than can be addressed"});
  write_bytes(p, file_with(header(R"({"dtype":"F64","shape":[1152921504606846976],"data_offsets":[0,8]})"), d8));
  check_rejects(p, {"'t'", "needs more bytes than the file has"});
  write_bytes(p, file_with(R"({"__metadata__":{"k":1}})", ""));
  check_rejects(p, {"__metadata__", "not a string"});
}

TEST_CASE("safetensors: overlapping, holey, uncovered and duplicated data are rejected") {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  const std::string d16(16, '\0');
  write_bytes(p, file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                           std::string(12, '\0')));
  check_rejects(p, {"'b'", "overlaps tensor 'a'"});
  write_bytes(p, file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                           d16));
  check_rejects(p, {"bytes [8, 12)", "belong to no tensor"});
  write_bytes(p, file_with(std::string("{") + kEntry8 + "}", d16));
  check_rejects(p, {"bytes [8, 16)", "at the end"});
  write_bytes(p, file_with(std::string("{") + kEntry8 + "," + kEntry8 + "}", std::string(8, '\0')));
  check_rejects(p, {"'a' more than once"});
}

TEST_CASE("safetensors: hostile deeply nested header fails cleanly") {
  TempDir dir;
  const std::string p = dir.file("deep.safetensors");
  const size_t depth = 200000;
  write_bytes(p, file_with("{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}", ""));
  check_rejects(p, {"nested deeper"});
}

TEST_CASE("safetensors: writer rejects bad input and leaves no partial file") {
  TempDir dir;
  const std::string p = dir.file("w.safetensors");
  Tensor t = Tensor::zeros({2});
  CHECK_THROWS_WITH_AS(write_safetensors(p, {{"a", t}, {"a", t}}), doctest::Contains("'a' is given more than once"),
                       Error);
  CHECK_THROWS_WITH_AS(write_safetensors(p, {{"", t}}), doctest::Contains("invalid tensor name"), Error);
  CHECK_THROWS_WITH_AS(write_safetensors(p, {{"u", Tensor()}}), doctest::Contains("'u' is undefined"), Error);
  CHECK_FALSE(fs::exists(p));
  CHECK_THROWS_WITH_AS(write_safetensors(dir.file("no_such_dir/x.safetensors"), {{"a", t}}),
                       doctest::Contains("no_such_dir/x.safetensors"), Error);
  // overwriting replaces the old content atomically
  write_safetensors(p, {{"a", Tensor::full({2}, 1.0)}});
  write_safetensors(p, {{"b", Tensor::full({3}, 2.0)}});
  SafetensorsFile f = read_safetensors(p);
  REQUIRE(f.tensors.size() == 1);
  CHECK(f.tensors[0].first == "b");
  CHECK(test::values(f.tensors[0].second) == std::vector<double>{2, 2, 2});
  int files = 0;
  for (auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);
}
