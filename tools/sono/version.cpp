// `sono version`: build configuration.
#include <cstdio>

#include "core/device.h"
#include "tools/sono/command.h"

static sono::cli::Register reg([](CLI::App& app) {
  app.add_subcommand("version", "Print the version and build configuration");
  return [] {
    std::printf("sono 0.1\nCUDA backend: %s\n", sono::cuda_compiled() ? "compiled in" : "not compiled");
    return 0;
  };
});
