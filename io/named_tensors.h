#pragma once
// A state dict: tensors by dotted name, in order (PyTorch's OrderedDict).
// Every reader and writer in io/ speaks it; Module::state_dict() returns it.
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sono::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

}  // namespace sono::nn
