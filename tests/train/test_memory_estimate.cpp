// train/memory_estimate.h against the CPU allocator's measured peak of real
// training steps (train/step.h) at small sizes, for a task of each kind.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include "core/allocator.h"
#include "tasks/dataset.h"
#include "train/benchmark.h"
#include "train/memory_estimate.h"

using namespace sono;

namespace {

std::unique_ptr<model::MultiTaskModel> make_model(const std::string& encoder) {
  model::MultiTaskModelConfig cfg = tasks::model_config();
  cfg.encoder = encoder;
  cfg.tasks = model::TaskRegistry({{"seg", TaskType::Segmentation, 4},
                                   {"cls", TaskType::Classification, 6},
                                   {"det", TaskType::Detection, 1},
                                   {"reg", TaskType::Regression, 3}});
  return std::make_unique<model::MultiTaskModel>(cfg);
}

// The allocator's peak over one training step of `task`, in bytes; the
// model's state (weights, AdamW moments) and the batch are in it, as in
// the estimate.
size_t measured_peak(model::MultiTaskModel& model, AdamW& opt, const model::TaskSpec& task, int64_t batch,
                     int64_t size) {
  data::Batch b = tasks::synthetic_batch(task, batch, size, Device::cpu(), 7);
  reset_cpu_peak_memory();
  const double loss = training_step(model, opt, b, task.id).item();
  REQUIRE(std::isfinite(loss));
  return cpu_memory_stats().peak;
}

}  // namespace

TEST_CASE("memory estimate: the CPU allocator's peak counter follows allocations") {
  const CpuMemoryStats before = cpu_memory_stats();
  reset_cpu_peak_memory();
  {
    Tensor a = Tensor::empty({1 << 20});  // 4 MiB
    CHECK(cpu_memory_stats().allocated >= before.allocated + (4u << 20));
  }
  CHECK(cpu_memory_stats().allocated == before.allocated);
  CHECK(cpu_memory_stats().peak >= before.allocated + (4u << 20));
  reset_cpu_peak_memory();
  CHECK(cpu_memory_stats().peak == cpu_memory_stats().allocated);
}

TEST_CASE("memory estimate: within the stated bound of the measured peak of training steps on the CPU") {
  struct Config {
    const char* encoder;
    int64_t size, batch;
  };
  for (const Config c :
       {Config{"efficientnet-b0", 64, 2}, Config{"efficientnet-b0", 96, 4}, Config{"efficientnet-b1", 128, 2}}) {
    auto owned = make_model(c.encoder);
    model::MultiTaskModel& model = *owned;
    model.train();
    AdamW opt = benchmark_optimizer(model);
    // One step per task first: AdamW's moments then exist for every head, as
    // in training after the first batch of each task.
    for (const model::TaskSpec& t : model.tasks().tasks()) measured_peak(model, opt, t, c.batch, c.size);
    const MemoryEstimate est = estimate_training_memory(model, c.size, c.batch, Device::cpu());
    REQUIRE(est.tasks.size() == model.tasks().size());
    size_t largest_measured = 0;
    for (size_t i = 0; i < est.tasks.size(); ++i) {
      const model::TaskSpec& t = model.tasks().tasks()[i];
      const size_t measured = measured_peak(model, opt, t, c.batch, c.size);
      largest_measured = std::max(largest_measured, measured);
      const double estimated = double(est.tasks[i].peak_bytes);
      const double error = (estimated - double(measured)) / double(measured);
      std::printf("memory estimate: %s %lldx%lld batch %lld %s: estimated %.1f MiB, measured %.1f MiB, error %+.1f%%\n",
                  c.encoder, (long long)c.size, (long long)c.size, (long long)c.batch, t.id.c_str(),
                  estimated / (1 << 20), double(measured) / (1 << 20), 100 * error);
      CAPTURE(c.encoder);
      CAPTURE(c.size);
      CAPTURE(c.batch);
      CAPTURE(t.id);
      CHECK(std::abs(error) <= kMemoryEstimateTolerance);
    }
    CHECK(std::abs(double(est.peak_bytes) - double(largest_measured)) <=
          kMemoryEstimateTolerance * double(largest_measured));
  }
}

TEST_CASE("memory estimate: grows with batch and size, and a GPU adds its reserve") {
  auto owned = make_model("efficientnet-b0");
  const model::MultiTaskModel& model = *owned;
  const MemoryEstimate small = estimate_training_memory(model, 64, 2, Device::cpu());
  const MemoryEstimate big = estimate_training_memory(model, 2048, 100000, Device::cpu());
  CHECK(big.peak_bytes > small.peak_bytes);
  CHECK(big.state_bytes == small.state_bytes);
  CHECK(big.peak_bytes > (size_t(1) << 45));  // above 32 TiB: no machine has that
  CHECK(estimate_training_memory(model, 64, 2, Device::cuda(0)).peak_bytes == small.peak_bytes + kCudaReserve);
  for (const TaskMemory& t : small.tasks) {
    CHECK(t.peak_bytes <= small.peak_bytes);
    if (t.id == small.peak_task) CHECK(t.peak_bytes == small.peak_bytes);
  }
  CHECK_THROWS_WITH_AS(estimate_training_memory(model, 48, 2, Device::cpu()), doctest::Contains("multiple of 32"),
                       Error);
}
