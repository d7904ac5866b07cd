// `sono bench --per-task`: time and memory of a training step per task of a
// dataset, and each task's share of an epoch (the tasks' batches differ in
// cost: segmentation and detection run the FPN decoder, classification and
// regression only the encoder).
//
// For every task: one batch of its rows is decoded, resized and augmented
// (timed: "load ms"), moved to the device, then `warmup` training steps, one
// step under the peak-memory probe, and `steps` timed steps (zero_grad,
// forward, loss, backward, AdamW step; the loss is read back each step, which
// synchronizes a GPU). The same batch is reused: this times the engine, not
// the loader.
#include "core/parallel.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "data/batch.h"
#include "data/dataset.h"
#include "data/phantom.h"
#include "tasks/dataset.h"
#include "tools/sono/command.h"
#include "train/benchmark.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct BenchArgs {
  bool per_task = false;
  std::string data;
  std::string encoder = "efficientnet-b0";
  int64_t size = 128, batch = 4, steps = 3, warmup = 1;
  int64_t phantom_images = 24;
  std::string device = "cpu";
  std::string precision = "tf32";
  std::string json_path;
  uint64_t seed = 42;
};

struct TaskResult {
  std::string id, type;
  int64_t rows = 0, batch = 0;
  double load_ms = 0, ms_per_step = 0, peak_bytes = -1;
  double ms_per_image() const { return ms_per_step / double(batch); }
};

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// The phantom dataset in a fresh temporary folder, removed on destruction.
struct TempPhantom {
  fs::path root;
  explicit TempPhantom(int64_t images_per_task) {
    std::random_device rd;
    root = fs::temp_directory_path() / ("sono_bench_" + std::to_string(rd()));
    sono::data::PhantomOptions o;
    o.images_per_task = images_per_task;
    sono::data::write_phantom_dataset(root.string(), o);
  }
  ~TempPhantom() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

TaskResult bench_task(sono::model::MultiTaskModel& model, sono::AdamW& opt, const sono::data::Dataset& ds, int64_t task,
                      const BenchArgs& a, sono::Device device) {
  const auto& info = ds.tasks[size_t(task)];
  TaskResult r;
  r.id = info.id;
  r.type = sono::task_type_name(info.type);
  sono::data::PlannedBatch plan;
  plan.task = task;
  for (int64_t i = 0; i < int64_t(ds.samples.size()); ++i)
    if (ds.samples[size_t(i)].task == task) {
      ++r.rows;
      if (int64_t(plan.rows.size()) < a.batch) plan.rows.push_back(i);
    }
  r.batch = int64_t(plan.rows.size());
  sono::data::BatchOptions bo;
  bo.image_size = a.size;
  bo.augment = true;
  bo.seed = a.seed;
  auto t0 = Clock::now();
  sono::data::Batch batch = sono::data::build_batch(ds, plan, 0, 0, bo, nullptr);
  r.load_ms = ms_since(t0);
  batch = sono::batch_to(batch, device);

  auto step = [&] {
    const double loss = sono::training_step(model, opt, batch, info.id).item();
    SONO_CHECK(std::isfinite(loss), "bench", "task '", info.id, "': the loss is ", loss);
  };
  for (int64_t i = 0; i < a.warmup; ++i) step();
  {
    sono::PeakMemory probe(device);
    step();
    if (probe.available()) r.peak_bytes = double(probe.peak_bytes());
  }
  t0 = Clock::now();
  for (int64_t i = 0; i < a.steps; ++i) step();
  r.ms_per_step = ms_since(t0) / double(a.steps);
  return r;
}

int run_per_task(const BenchArgs& a) {
  SONO_CHECK(a.batch > 0 && a.steps > 0 && a.warmup >= 0 && a.size >= 32 && a.size % 32 == 0, "bench",
             "batch and steps must be positive, warmup >= 0 and the size a multiple of 32 (>= 32)");
  const sono::Device device = sono::Device::parse(a.device);
  std::unique_ptr<TempPhantom> phantom;
  std::string root = a.data;
  if (root.empty()) {
    phantom = std::make_unique<TempPhantom>(a.phantom_images);
    root = phantom->root.string();
  }
  sono::data::Dataset ds = sono::tasks::read_dataset(root);
  sono::data::check_images(ds);
  SONO_CHECK(!ds.samples.empty(), "bench", "no rows in ", root);

  sono::model::MultiTaskModelConfig cfg = sono::tasks::model_config();
  cfg.encoder = a.encoder;
  cfg.tasks = sono::tasks::registry_for(ds, false);
  cfg.init_seed = cfg.random_seed = a.seed;
  sono::model::MultiTaskModel model(cfg);
  model.to(device);
  model.train();
  sono::AdamW opt = sono::benchmark_optimizer(model);

  std::printf(
      "bench: %s at %lldx%lld, batch %lld, %lld warm-up + 1 memory + %lld timed steps per task, "
      "device %s, precision %s, %d OpenMP threads, data %s\n",
      a.encoder.c_str(), (long long)a.size, (long long)a.size, (long long)a.batch, (long long)a.warmup,
      (long long)a.steps, device.str().c_str(), sono::precision_name(sono::precision()), sono::num_threads(),
      a.data.empty() ? "phantom (temporary)" : a.data.c_str());
  std::vector<TaskResult> results;
  for (int64_t t = 0; t < int64_t(ds.tasks.size()); ++t) results.push_back(bench_task(model, opt, ds, t, a, device));

  // An epoch visits every row once: a task's time is its rows x ms per image.
  double epoch_ms = 0;
  for (const auto& r : results) epoch_ms += double(r.rows) * r.ms_per_image();
  std::printf("%-24s %-15s %6s %6s %9s %9s %9s %9s %9s\n", "task", "type", "rows", "batch", "ms/step", "images/s",
              "peak MiB", "load ms", "epoch %");
  json out = {{"encoder", a.encoder},
              {"size", a.size},
              {"batch", a.batch},
              {"steps", a.steps},
              {"warmup", a.warmup},
              {"device", device.str()},
              {"precision", sono::precision_name(sono::precision())},
              {"threads", sono::num_threads()},
              {"data", a.data.empty() ? "phantom" : a.data},
              {"epoch_seconds_estimate", epoch_ms * 1e-3},
              {"tasks", json::array()}};
  for (const auto& r : results) {
    const double share = epoch_ms > 0 ? double(r.rows) * r.ms_per_image() / epoch_ms : 0;
    char peak[32] = "-";
    if (r.peak_bytes >= 0) std::snprintf(peak, sizeof peak, "%.1f", r.peak_bytes / (1 << 20));
    std::printf("%-24s %-15s %6lld %6lld %9.1f %9.2f %9s %9.1f %8.1f%%\n", r.id.c_str(), r.type.c_str(),
                (long long)r.rows, (long long)r.batch, r.ms_per_step, 1e3 / r.ms_per_image(), peak, r.load_ms,
                100 * share);
    out["tasks"].push_back({{"id", r.id},
                            {"type", r.type},
                            {"rows", r.rows},
                            {"batch", r.batch},
                            {"ms_per_step", r.ms_per_step},
                            {"images_per_s", 1e3 / r.ms_per_image()},
                            {"peak_mib", r.peak_bytes >= 0 ? json(r.peak_bytes / (1 << 20)) : json(nullptr)},
                            {"load_ms", r.load_ms},
                            {"epoch_share", share}});
  }
  std::printf("epoch estimate (every row once, compute only): %.1f s\n", epoch_ms * 1e-3);
  if (!a.json_path.empty()) {
    std::ofstream f(a.json_path);
    SONO_CHECK(f.good(), "bench", "cannot write ", a.json_path);
    f << out.dump(1) << "\n";
  }
  return 0;
}

}  // namespace

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "bench",
      "Time training steps on this machine. --per-task: ms/step, images/s and peak memory per task of a dataset "
      "(default: a temporary phantom), and each task's share of an epoch weighted by its rows");
  auto a = std::make_shared<BenchArgs>();
  cmd->add_flag("--per-task", a->per_task, "Benchmark a training step of every task of the dataset");
  cmd->add_option("--data", a->data,
                  "Dataset folder holding csv_files/ (default: generate a phantom in a temp folder)");
  cmd->add_option("--phantom-images", a->phantom_images, "Images per task of the generated phantom")
      ->capture_default_str();
  cmd->add_option("--encoder", a->encoder, "efficientnet-b0 .. efficientnet-b7")->capture_default_str();
  cmd->add_option("--size", a->size, "Input height and width (multiple of 32)")->capture_default_str();
  cmd->add_option("--batch", a->batch, "Batch size (a task with fewer rows uses all of them)")->capture_default_str();
  cmd->add_option("--steps", a->steps, "Timed steps per task")->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "Untimed steps per task before the memory probe")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda[:N] (CPU threads: OMP_NUM_THREADS)")->capture_default_str();
  sono::cli::add_precision_option(cmd, a->precision);
  cmd->add_option("--seed", a->seed, "Seed of the initialisation and augmentation")->capture_default_str();
  cmd->add_option("--json", a->json_path, "Also write the results to this JSON file");
  return [=] {
    if (!a->per_task) {
      std::fprintf(stderr, "sono bench: choose what to benchmark: --per-task (see sono bench --help)\n");
      return 1;
    }
    sono::cli::apply_precision(a->precision);
    return run_per_task(*a);
  };
});
