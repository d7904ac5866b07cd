// Activation memory of a training forward/backward per task type, with the
// fused ops (layers/fusion.h) on and off, from the CPU allocator's counters
// (core/allocator.h, cpu_memory_stats):
//   memory/cpu/<fused|unfused>/<seg|cls|det|reg>
// Counters: saved_MiB, the bytes the graph holds after the training-mode
// forward (saved tensors and the output: what a fused op that stores less
// makes smaller); peak_MiB, the allocator's peak during forward + backward;
// both above what was in use before the forward (weights), per batch, and
// per image (saved_MiB_per_image). One iteration per workload; the time is
// the forward + backward. Batch SONO_BENCH_MEMORY_BATCH (default 20), image
// side SONO_BENCH_SIZE (256), encoder SONO_BENCH_ENCODER (efficientnet-b4),
// precision SONO_BENCH_PRECISION (fp32, the default; tf32 is the same f32
// storage on the CPU; bf16 runs forward and backward under the autocast policy
// of docs/precision.md, as a training step does), shown as each run's label.
// docs/memory.md has the figures and the command that makes them.
#include <map>
#include <memory>
#include <string>

#include "bench/bench_support.h"
#include "core/allocator.h"
#include "core/autocast.h"
#include "core/autograd.h"
#include "core/error.h"
#include "core/precision.h"
#include "layers/fusion.h"
#include "model/multitask_model.h"
#include "ops/ops.h"
#include "tasks/dataset.h"

namespace {

using namespace sono;

struct TaskCase {
  const char* key;
  const char* task_id;
};
const TaskCase kCases[] = {
    {"seg", "cardiac_multi"}, {"cls", "organ_cls"}, {"det", "thyroid_nodule_det"}, {"reg", "IUGC"}};

model::MultiTaskModel& cpu_model() {
  static std::unique_ptr<model::MultiTaskModel> m;
  if (!m) {
    model::MultiTaskModelConfig cfg = tasks::model_config();
    cfg.encoder = bench::env_string("SONO_BENCH_ENCODER", "efficientnet-b4");
    m = std::make_unique<model::MultiTaskModel>(cfg);
  }
  return *m;
}

void memory_bench(benchmark::State& state, TaskCase c, bool fused) {
  std::unique_ptr<bench::ModelPrecision> precision_scope;
  try {
    precision_scope = std::make_unique<bench::ModelPrecision>();
  } catch (const Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  state.SetLabel(precision_name(precision()));
  AutocastGuard autocast(precision());
  nn::FusedOpsScope scope(fused);
  model::MultiTaskModel& m = cpu_model();
  m.train();
  const int64_t batch = bench::env_int("SONO_BENCH_MEMORY_BATCH", 20), size = bench::env_int("SONO_BENCH_SIZE", 256);
  Tensor x = bench::randn({batch, 3, size, size}, 1, Device::cpu());
  double saved = 0, peak = 0;
  bench::timed_loop(state, Device::cpu(), [&] {
    m.zero_grad();
    const size_t base = cpu_memory_stats().allocated;
    reset_cpu_peak_memory();
    Tensor y = m.forward(x, c.task_id);
    saved = double(cpu_memory_stats().allocated - base);
    sum(y).backward();
    peak = double(cpu_memory_stats().peak - base);
  });
  m.zero_grad();
  constexpr double kMiB = 1 << 20;
  state.counters["saved_MiB"] = saved / kMiB;
  state.counters["saved_MiB_per_image"] = saved / kMiB / double(batch);
  state.counters["peak_MiB"] = peak / kMiB;
  state.counters["batch"] = double(batch);
}

const bool registered = [] {
  for (const TaskCase& c : kCases)
    for (bool fused : {true, false})
      bench::configure(
          benchmark::RegisterBenchmark(str_cat("memory/cpu/", fused ? "fused/" : "unfused/", c.key).c_str(),
                                       memory_bench, c, fused))
          ->Iterations(1);
  return true;
}();

}  // namespace
