#pragma once
// Loading a state dict into existing tensors by dotted name, with PyTorch's
// strict / non-strict semantics. Module's load_state_dict (layers/module.h) is
// this applied to module.state_dict().
#include <string>
#include <vector>

#include "io/named_tensors.h"

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
  std::vector<std::string> missing;     // in the targets, not in the source
  std::vector<std::string> unexpected;  // in the source, not in the targets
  int64_t loaded = 0;                   // tensors copied
};

// Validates everything first and throws ONE sono::Error
// ("load_state_dict: <options.source> into <target_name>: ...") listing every
// missing, unexpected (when strict), mis-shaped / wrong-dtype key and every
// floating tensor holding NaN or infinite values (a corrupt or diverged
// checkpoint: refused at load, not found later as a NaN loss); only when
// all is well copies the values of `tensors` into the target tensors in place (no
// autograd, any device).
LoadReport copy_state_dict(const NamedTensors& targets, const NamedTensors& tensors, const LoadOptions& options,
                           const std::string& target_name);

}  // namespace sono::nn
