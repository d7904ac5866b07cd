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

// --precision into `value` (default tf32); apply_precision(value) sets it for the process.
inline void add_precision_option(CLI::App* cmd, std::string& value) {
  cmd->add_option("--precision", value,
                  "Float32 math of cuDNN convolutions and cuBLAS on a GPU: tf32 (tensor cores, PyTorch's default "
                  "for convolutions) or fp32 (strict); the CPU always computes strict fp32")
      ->capture_default_str();
}
inline void apply_precision(const std::string& value) { set_precision(parse_precision(value, "--precision")); }

struct Register {
  explicit Register(Registrar r) { registrars().push_back(std::move(r)); }
};

}  // namespace sono::cli
