#pragma once
// Which reader a tensor file needs, told by the file's structure, never by one
// byte (a safetensors header length may well begin with 0x80, the pickle
// PROTO opcode, or with "PK"):
//   safetensors               8-byte little-endian header length N with
//                             2 <= N <= file size - 8, then a JSON object ('{')
//   PyTorch zip checkpoint    a zip local file header "PK\x03\x04" (torch >= 1.6)
//   PyTorch legacy checkpoint a pickle: PROTO 0x80 and protocol 2..5 (torch < 1.6)
// The safetensors test comes first: the first 8 bytes of a zip or a pickle,
// read as a length, never fit a file with '{' after them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace sono::nn {

enum class TensorFileFormat { Safetensors, TorchZip, TorchLegacy };

// "safetensors", "PyTorch zip checkpoint", "PyTorch legacy checkpoint".
const char* tensor_file_format_name(TensorFileFormat f);

// From the first `head_size` bytes of a file of `file_size` bytes (9 bytes
// suffice); nullopt when no format fits.
std::optional<TensorFileFormat> detect_tensor_file_format(const uint8_t* head, size_t head_size, uint64_t file_size);

// The format of the file at `path`. Throws sono::Error naming the file when it
// cannot be opened, is not a regular file, or fits no format (the message
// shows its first bytes and what each format would have needed).
TensorFileFormat tensor_file_format(const std::string& path);

}  // namespace sono::nn
