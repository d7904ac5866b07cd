// sono: train, predict, evaluate and inspect the multi-task ultrasound model.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/error.h"
#include "tools/sono/command.h"

namespace sono::cli {
std::vector<Registrar>& registrars() {
  static std::vector<Registrar> r;
  return r;
}
}  // namespace sono::cli

int main(int argc, char** argv) {
  CLI::App app{"sono: a C++/CUDA engine for the FMC_UIA 2026 multi-task ultrasound baseline"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, std::function<int()>>> runs;
  for (auto& reg : sono::cli::registrars()) {
    size_t before = app.get_subcommands({}).size();
    auto run = reg(app);
    auto subs = app.get_subcommands({});
    if (subs.size() > before) runs.emplace_back(subs.back(), std::move(run));
  }
  CLI11_PARSE(app, argc, argv);
  try {
    for (auto& [sub, run] : runs)
      if (sub->parsed()) return run();
  } catch (const sono::Error& e) {
    std::fprintf(stderr, "sono: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sono: unexpected error: %s\n", e.what());
    return 2;
  }
  return 0;
}
