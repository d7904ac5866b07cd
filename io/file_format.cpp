#include "io/file_format.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.h"

namespace sono::nn {

namespace {

constexpr size_t kHeadBytes = 9;

uint64_t le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i) s += ' ';
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

}  // namespace

const char* tensor_file_format_name(TensorFileFormat f) {
  switch (f) {
    case TensorFileFormat::Safetensors: return "safetensors";
    case TensorFileFormat::TorchZip: return "PyTorch zip checkpoint";
    case TensorFileFormat::TorchLegacy: return "PyTorch legacy checkpoint";
  }
  return "?";
}

std::optional<TensorFileFormat> detect_tensor_file_format(const uint8_t* head, size_t head_size, uint64_t file_size) {
  if (head_size >= 9 && file_size >= 10) {
    const uint64_t header_len = le64(head);
    if (header_len >= 2 && header_len <= file_size - 8 && head[8] == '{') return TensorFileFormat::Safetensors;
  }
  if (head_size >= 4 && std::memcmp(head, "PK\x03\x04", 4) == 0) return TensorFileFormat::TorchZip;
  if (head_size >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) return TensorFileFormat::TorchLegacy;
  return std::nullopt;
}

TensorFileFormat tensor_file_format(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw Error(str_cat("tensor file ", path, ": cannot open: ", std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) throw Error(str_cat("tensor file ", path, ": not a regular file"));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(str_cat("tensor file ", path, ": cannot open: ", std::strerror(errno)));
  uint8_t head[kHeadBytes] = {};
  in.read(reinterpret_cast<char*>(head), kHeadBytes);
  const size_t got = size_t(in.gcount());
  const uint64_t file_size = uint64_t(st.st_size);
  if (auto f = detect_tensor_file_format(head, got, file_size)) return *f;
  std::string why = "not a zip archive (\"PK\\x03\\x04\"), not a pickle (0x80 and protocol 2..5)";
  if (got >= 9)
    why += str_cat(", not safetensors (header length ", le64(head), " in a ", file_size, "-byte file, then ",
                   head[8] == '{' ? "'{'" : "no '{'", ")");
  else why += ", not safetensors (fewer than 10 bytes)";
  throw Error(str_cat("tensor file ", path, ": unknown format, expected safetensors or a PyTorch checkpoint: ",
                      file_size, " bytes starting ", got ? hex_bytes(head, got) : "(empty)", ": ", why));
}

}  // namespace sono::nn
