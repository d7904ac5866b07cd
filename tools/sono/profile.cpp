// `sono profile`: where the time of one eval forward and one training step
// goes, per kernel entry point and per backward node (core/profile.h), for
// the whole model on one task of the official registry with a synthetic
// batch. tools/profile_compare.py puts it beside torch.profiler by op family.
#include "core/parallel.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/autograd.h"
#include "core/profile.h"
#include "tools/sono/command.h"
#include "train/benchmark.h"

namespace {

using nlohmann::json;

struct ProfileArgs {
  std::string encoder = "efficientnet-b4", task = "cardiac_multi", json_path;
  int64_t size = 256, batch = 2, warmup = 1;
  uint64_t seed = 42;
};

// Runs f once with the profiler on; the phase's entries and its wall time.
template <class F>
json profiled(const char* phase, F&& f) {
  sono::profile::reset();
  sono::profile::set_enabled(true);
  const auto t0 = std::chrono::steady_clock::now();
  f();
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sono::profile::set_enabled(false);
  json entries = json::array();
  double covered = 0;
  for (const auto& e : sono::profile::entries()) {
    entries.push_back({{"name", e.name}, {"calls", e.calls}, {"ms", e.seconds * 1e3}});
    covered += e.seconds;
  }
  std::printf("%s: %.1f ms wall, %.1f ms in %zu profiled entries\n", phase, wall * 1e3, covered * 1e3, entries.size());
  for (const auto& e : entries)
    std::printf("  %-44s %6lld calls %9.2f ms\n", e["name"].get<std::string>().c_str(),
                (long long)e["calls"].get<int64_t>(), e["ms"].get<double>());
  return {{"phase", phase}, {"wall_ms", wall * 1e3}, {"entries", entries}};
}

int run_profile(const ProfileArgs& a) {
  SONO_CHECK(a.batch > 0 && a.warmup >= 0 && a.size >= 32 && a.size % 32 == 0, "profile",
             "--batch must be positive, --warmup >= 0 and --size a multiple of 32 (>= 32)");
  sono::model::MultiTaskModelConfig cfg = sono::tasks::model_config();
  cfg.encoder = a.encoder;
  cfg.init_seed = cfg.random_seed = a.seed;
  sono::model::MultiTaskModel model(cfg);
  SONO_CHECK(model.tasks().contains(a.task), "profile", "--task '", a.task, "' is not a task of the official registry");
  sono::AdamW opt = sono::benchmark_optimizer(model);
  const sono::data::Batch batch =
      sono::synthetic_batch(model.tasks().at(a.task), a.batch, a.size, sono::Device::cpu(), 7);
  auto forward = [&] {
    model.eval();
    sono::NoGradGuard ng;
    model.forward(batch.images, a.task);
  };
  auto step = [&] {
    model.train();
    sono::training_step(model, opt, batch, a.task).item();
  };
  for (int64_t i = 0; i < a.warmup; ++i) {
    forward();
    step();
  }
  std::printf("profile: %s at %lldx%lld, batch %lld, task %s, %d OpenMP threads\n", a.encoder.c_str(),
              (long long)a.size, (long long)a.size, (long long)a.batch, a.task.c_str(), sono::num_threads());
  json out = {
      {"encoder", a.encoder}, {"size", a.size}, {"batch", a.batch}, {"task", a.task}, {"threads", sono::num_threads()}};
  out["phases"] = json::array({profiled("forward", forward), profiled("train_step", step)});
  if (!a.json_path.empty()) {
    std::ofstream f(a.json_path);
    f << out.dump(1) << "\n";
    SONO_CHECK(f.good(), "profile", "cannot write ", a.json_path);
  }
  return 0;
}

}  // namespace

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("profile",
                                 "Time per kernel and per backward node of one eval forward and one training step "
                                 "(CPU; OMP_NUM_THREADS threads)");
  auto a = std::make_shared<ProfileArgs>();
  cmd->add_option("--encoder", a->encoder, "efficientnet-b0 .. efficientnet-b7")->capture_default_str();
  cmd->add_option("--task", a->task, "Task id of the official registry")->capture_default_str();
  cmd->add_option("--size", a->size, "Input height and width (multiple of 32)")->capture_default_str();
  cmd->add_option("--batch", a->batch, "Batch size")->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "Untimed forward + step pairs first")->capture_default_str();
  cmd->add_option("--json", a->json_path, "Also write the entries to this JSON file");
  return [=] { return run_profile(*a); };
});
