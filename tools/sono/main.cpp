// sono: train, predict, evaluate and inspect the multi-task ultrasound model.
#include <unistd.h>

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

namespace {
// Idle OpenMP threads sleep instead of spinning, unless the user chose a
// policy: on cores shared with other processes a spinning thread takes the
// CPU from the very thread it waits for (docs/benchmarks.md, contention).
// libgomp reads the variable when it loads, so the program restarts itself
// once with it set; if that fails it runs on under the default policy.
void default_omp_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
  execv("/proc/self/exe", argv);
}
}  // namespace

int main(int argc, char** argv) {
  default_omp_wait_policy(argv);
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
