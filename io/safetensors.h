#pragma once
// The safetensors format (https://github.com/huggingface/safetensors):
// 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
// then the raw little-endian data; offsets are relative to the data start and
// the tensors must tile the data exactly (no overlap, no holes).
#include <map>
#include <string>

#include "io/named_tensors.h"

namespace sono::nn {

struct SafetensorsFile {
  NamedTensors tensors;  // in header order, CPU, contiguous
  std::map<std::string, std::string> metadata;
};

// Reads F32, F64, BF16, I64, I32, U8 as themselves and F16 as f32. Every
// structural problem (short file, bad header length, malformed JSON, unknown
// dtype, offsets out of range / overlapping / leaving holes, byte size not
// matching dtype and shape) throws sono::Error naming the file and tensor;
// nothing is allocated before the header has been checked against the file size.
SafetensorsFile read_safetensors(const std::string& path);

// Writes atomically with AtomicFile (io/atomic_file.h): the target is replaced
// whole or not at all, and I/O errors throw naming it. Names must be unique and
// non-empty; tensors may be on any device/layout.
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Header JSON must not exceed this (the reference implementation's limit).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

}  // namespace sono::nn
