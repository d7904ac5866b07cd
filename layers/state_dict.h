#pragma once
// Loading and saving a Module's state (parameters + buffers) by dotted name.
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"

namespace sono::nn {

struct LoadOptions {
  // Missing and unexpected keys are errors (PyTorch strict=True). Shape and
  // dtype mismatches are errors either way.
  bool strict = true;
  // Accept a floating tensor of another floating dtype (converted on copy).
  bool allow_float_conversion = false;
  // Named in error messages (e.g. the file path).
  std::string source = "state dict";
};

struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the source
  std::vector<std::string> unexpected;  // in the source, not in the module
  int64_t loaded = 0;                   // tensors copied
};

// Validates everything first and throws ONE sono::Error listing every missing,
// unexpected (when strict) and mis-shaped / wrong-dtype key; only when all is
// well copies the values into the existing parameters and buffers in place
// (no autograd, any device), then calls on_state_loaded on every module.
LoadReport load_state_dict(Module& module, const NamedTensors& tensors, const LoadOptions& options = {});

// state_dict() to a safetensors file (atomic write).
void save_safetensors(const Module& module, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {});
// read_safetensors + load_state_dict (options.source defaults to the path).
LoadReport load_safetensors(Module& module, const std::string& path, LoadOptions options = {});

}  // namespace sono::nn
