#pragma once
#include <string>

namespace sono {

struct Device {
  enum class Kind : uint8_t { CPU, CUDA };
  Kind kind = Kind::CPU;
  int index = 0;

  static Device cpu() { return {Kind::CPU, 0}; }
  static Device cuda(int i = 0) { return {Kind::CUDA, i}; }
  // "cpu", "cuda", "cuda:1"; throws on anything else.
  static Device parse(const std::string& s);

  bool is_cpu() const { return kind == Kind::CPU; }
  bool is_cuda() const { return kind == Kind::CUDA; }
  bool operator==(const Device& o) const { return kind == o.kind && (kind == Kind::CPU || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

// True when this build has the CUDA backend compiled in.
bool cuda_compiled();
// Throws the one error for cuda work in a build without the CUDA backend:
// "<what>: this build of Sono has no CUDA backend (configure with ...)".
[[noreturn]] void throw_no_cuda_backend(const std::string& what);

}  // namespace sono
