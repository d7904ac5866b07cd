// `sono phantom`: writes the built-in synthetic dataset (train and val splits).
#include <cstdio>
#include <filesystem>

#include "data/phantom.h"
#include "tools/sono/command.h"

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "phantom", "Generate a synthetic ultrasound-like dataset in the challenge's format (OUT/train, OUT/val)");
  struct Args {
    std::string out;
    int64_t train = 60, val = 16, min_size = 180, max_size = 320;
    uint64_t seed = 1;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--out", a->out, "Output folder")->required();
  cmd->add_option("--train-images", a->train, "Images per task in train/")->capture_default_str();
  cmd->add_option("--val-images", a->val, "Images per task in val/")->capture_default_str();
  cmd->add_option("--min-size", a->min_size, "Smallest image side")->capture_default_str();
  cmd->add_option("--max-size", a->max_size, "Largest image side")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed (val uses seed + 1000003)")->capture_default_str();
  return [=] {
    namespace fs = std::filesystem;
    for (auto [split, n, seed] :
         {std::tuple<const char*, int64_t, uint64_t>{"train", a->train, a->seed}, {"val", a->val, a->seed + 1000003}}) {
      sono::data::PhantomOptions o;
      o.images_per_task = n;
      o.min_size = a->min_size;
      o.max_size = a->max_size;
      o.seed = seed;
      o.det_rows_without_box = n / 10;
      auto rows = sono::data::write_phantom_dataset((fs::path(a->out) / split).string(), o);
      std::printf("phantom: %zu rows in %s\n", rows.size(), (fs::path(a->out) / split).string().c_str());
    }
    return 0;
  };
});
