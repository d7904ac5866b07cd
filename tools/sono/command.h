#pragma once
// Each subcommand lives in its own file and registers itself here, so adding
// a command never touches main.cpp.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "core/precision.h"

namespace sono::cli {

// Adds the subcommand to `app` and returns the function that runs it after parsing.
using Registrar = std::function<std::function<int()>(CLI::App& app)>;

std::vector<Registrar>& registrars();

// --precision into `value` (default tf32); apply_precision(value) sets it for the process
// (core/precision.h; bf16 is read by the training step and inference, core/autocast.h).
inline void add_precision_option(CLI::App* cmd, std::string& value) {
  cmd->add_option("--precision", value,
                  "tf32: float32 with cuDNN convolutions and cuBLAS on TF32 tensor cores (PyTorch's default for "
                  "convolutions; the CPU computes strict fp32), fp32: strict float32, bf16: mixed precision on "
                  "either device (bfloat16 convolutions and linear layers on fp32 master weights; "
                  "docs/precision.md; slow on the CPU)")
      ->capture_default_str();
}
inline void apply_precision(const std::string& value) { set_precision(parse_precision(value, "--precision")); }

struct Register {
  explicit Register(Registrar r) { registrars().push_back(std::move(r)); }
};

}  // namespace sono::cli
