#pragma once
// Each subcommand lives in its own file and registers itself here, so adding
// a command never touches main.cpp.
#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

namespace sono::cli {

// Adds the subcommand to `app` and returns the function that runs it after parsing.
using Registrar = std::function<std::function<int()>(CLI::App& app)>;

std::vector<Registrar>& registrars();

struct Register {
  explicit Register(Registrar r) { registrars().push_back(std::move(r)); }
};

}  // namespace sono::cli
