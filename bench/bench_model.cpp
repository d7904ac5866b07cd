// Whole-model workloads, one task per task type, on each device:
//   model/<cpu|cuda>/fwd/<seg|cls|det|reg>/batch:B    eval forward under no-grad
//   model/<cpu|cuda>/fwd_folded/<seg|cls|det|reg>/batch:B  the same with every
//       BatchNorm folded into its convolution (what `sono predict` runs)
//   model/<cpu|cuda>/train/<seg|cls|det|reg>/batch:B  one training step: zero_grad,
//       forward (train mode), task loss, backward, AdamW step (every parameter)
// seg = cardiac_multi (4 classes, Dice), cls = organ_cls (6 classes, CE),
// det = thyroid_nodule_det (grid detection loss), reg = IUGC (3 points, MSE).
// Batch: SONO_BENCH_BATCH (cpu, default 2) / SONO_BENCH_CUDA_BATCH (cuda,
// default 20; the cuda forward also runs at batch 1 for latency). Image side
// SONO_BENCH_SIZE (256), encoder SONO_BENCH_ENCODER (efficientnet-b4),
// precision SONO_BENCH_PRECISION (fp32, tf32 or bf16: core/precision.h; bf16
// runs forward and loss under core/autocast.h, as `sono train --precision bf16`).
//
// Counters: images_per_s, ms_per_image; GFLOP/s with FLOPs = 2 * MACs for a
// forward and 2 * 3 * forward MACs for a training step (backward ~ twice the
// forward: input and weight gradients); GMAC_per_image (count_macs, conv and
// linear layers only); peak_MiB, the memory one call needs above what was in
// use before it (cpu: resident-set high-water growth; cuda: caching-allocator
// peak), measured on a steady-state call (optimizer state already made);
// cuda also peak_total_MiB, the allocator's absolute peak (weights and
// optimizer state included).
// Each workload is checked once before timing (finite output, finite loss)
// and run twice more untimed (the memory probe and a warm-up).
#include <map>
#include <memory>
#include <string>

#include "bench/bench_support.h"
#include "core/autocast.h"
#include "core/autograd.h"
#include "model/counts.h"
#include "model/fold_batchnorm.h"
#include "train/benchmark.h"

#if SONO_WITH_CUDA
#include "core/cuda/allocator.h"
#endif

namespace {

using namespace sono;
using sono::model::MultiTaskModel;

struct TaskCase {
  const char* key;
  const char* task_id;
};
const TaskCase kCases[] = {
    {"seg", "cardiac_multi"}, {"cls", "organ_cls"}, {"det", "thyroid_nodule_det"}, {"reg", "IUGC"}};

int64_t image_size() { return bench::env_int("SONO_BENCH_SIZE", 256); }

// One model (all 27 heads) and optimizer per device, built at first use.
struct DeviceModel {
  std::unique_ptr<MultiTaskModel> model;
  std::unique_ptr<AdamW> opt;
  model::ModelMacs macs;
};

DeviceModel& model_on(Device device) {
  static std::map<std::string, DeviceModel> models;
  DeviceModel& m = models[device.str()];
  if (!m.model) {
    model::MultiTaskModelConfig cfg = tasks::model_config();
    cfg.encoder = bench::env_string("SONO_BENCH_ENCODER", "efficientnet-b4");
    m.model = std::make_unique<MultiTaskModel>(cfg);
    m.model->to(device);
    m.opt = std::make_unique<AdamW>(benchmark_optimizer(*m.model));
    m.macs = model::count_macs(*m.model, image_size(), image_size());
  }
  return m;
}

int64_t forward_macs(const DeviceModel& m, const std::string& task_id) {
  for (const auto& t : m.macs.tasks)
    if (t.id == task_id) return t.total;
  return 0;
}

// Inputs and the once-per-workload measurements (validation, peak memory).
struct Prepared {
  data::Batch batch;
  std::string error;
  double peak_bytes = -1, peak_total_bytes = -1;
};

template <class Run>
Prepared& prepare(const std::string& key, Device device, const TaskCase& c, int64_t batch_size, Run run,
                  const std::function<std::string(const Tensor&)>& validate) {
  static std::map<std::string, Prepared> cache;
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  Prepared& p = cache[key];
  DeviceModel& m = model_on(device);
  p.batch = synthetic_batch(m.model->tasks().at(c.task_id), batch_size, image_size(), device, 7);
  p.error = validate(run(p.batch));  // also the first warm-up (makes optimizer state)
  if (!p.error.empty()) return p;
  {
    PeakMemory probe(device);
    run(p.batch);
    bench::synchronize(device);
    if (probe.available()) p.peak_bytes = double(probe.peak_bytes());
  }
#if SONO_WITH_CUDA
  if (device.is_cuda()) p.peak_total_bytes = double(cuda::memory_stats(device.index).peak);
#endif
  run(p.batch);  // pages returned by the probe's trim are faulted in again here, not in the timing
  bench::synchronize(device);
  return p;
}

void set_counters(benchmark::State& state, const Prepared& p, int64_t batch, double macs_per_image,
                  double flop_factor) {
  bench::set_rate(state, "images_per_s", double(batch));
  bench::set_ms_per(state, "ms_per_image", double(batch));
  bench::set_gflops(state, flop_factor * macs_per_image * double(batch));
  state.counters["GMAC_per_image"] = macs_per_image * 1e-9;
  state.counters["batch"] = double(batch);
  if (p.peak_bytes >= 0) state.counters["peak_MiB"] = p.peak_bytes / (1 << 20);
  if (p.peak_total_bytes >= 0) state.counters["peak_total_MiB"] = p.peak_total_bytes / (1 << 20);
}

std::string finite_or(const Tensor& t, const char* what) {
  return bench::all_finite(t) ? "" : std::string(what) + " has non-finite values";
}

// The device's model with its BatchNorms folded (model::folded_inference_copy), made once.
MultiTaskModel& folded_on(Device device) {
  static std::map<std::string, std::shared_ptr<MultiTaskModel>> folded;
  auto& f = folded[device.str()];
  if (!f) f = model::folded_inference_copy(*model_on(device).model);
  return *f;
}

void model_forward(benchmark::State& state, bench::Target target, TaskCase c, int64_t batch, bool fold) {
  if (bench::skip_unavailable(state, target.device)) return;
  DeviceModel& m = model_on(target.device);
  m.model->eval();
  MultiTaskModel& model = fold ? folded_on(target.device) : *m.model;
  NoGradGuard no_grad;
  const bench::ModelPrecision model_precision;
  AutocastGuard autocast(precision());  // as predict: the weights' bf16 copies are made once
  auto run = [&](const data::Batch& b) { return model.forward(b.images, c.task_id); };
  const std::string key = str_cat(fold ? "fwd_folded/" : "fwd/", target.name, "/", c.key, "/", batch);
  Prepared& p = prepare(key, target.device, c, batch, run, [](const Tensor& y) { return finite_or(y, "output"); });
  if (!bench::report_validation(state, p.error)) return;
  bench::timed_loop(state, target.device, [&] {
    Tensor y = model.forward(p.batch.images, c.task_id);
    benchmark::DoNotOptimize(y.raw_data());
  });
  set_counters(state, p, batch, double(forward_macs(m, c.task_id)), 2.0);
}

void model_train(benchmark::State& state, bench::Target target, TaskCase c, int64_t batch) {
  if (bench::skip_unavailable(state, target.device)) return;
  DeviceModel& m = model_on(target.device);
  m.model->train();
  const bench::ModelPrecision model_precision;  // training_step opens its autocast scope
  auto run = [&](const data::Batch& b) { return training_step(*m.model, *m.opt, b, c.task_id); };
  const std::string key = str_cat("train/", target.name, "/", c.key, "/", batch);
  Prepared& p = prepare(key, target.device, c, batch, run, [](const Tensor& loss) { return finite_or(loss, "loss"); });
  if (!bench::report_validation(state, p.error)) return;
  bench::timed_loop(state, target.device, [&] {
    Tensor loss = training_step(*m.model, *m.opt, p.batch, c.task_id);
    benchmark::DoNotOptimize(loss.raw_data());
  });
  set_counters(state, p, batch, double(forward_macs(m, c.task_id)), 6.0);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets()) {
    std::vector<int64_t> fwd_batches{t.batch};
    if (t.device.is_cuda() && t.batch != 1) fwd_batches.push_back(1);  // inference latency
    for (const TaskCase& c : kCases) {
      for (int64_t b : fwd_batches)
        for (bool fold : {false, true})
          bench::configure(benchmark::RegisterBenchmark(
              str_cat("model/", t.name, fold ? "/fwd_folded/" : "/fwd/", c.key, "/batch:", b).c_str(), model_forward, t,
              c, b, fold));
      bench::configure(benchmark::RegisterBenchmark(
          str_cat("model/", t.name, "/train/", c.key, "/batch:", t.batch).c_str(), model_train, t, c, t.batch));
    }
  }
  return true;
}();

}  // namespace
