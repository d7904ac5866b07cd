// The training step on CUDA against the same step on the CPU: one full step of
// the B4 model per task type, a short training run through train_model, and
// the caching allocator's memory over many steps. Every case skips (printing
// "skipped: no CUDA device") without a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/cuda/allocator.h"
#include "core/cuda/context.h"
#include "data/phantom.h"
#include "tasks/task_kind.h"
#include "tests/ops/cuda/cuda_check.h"
#include "tests/train/train_test_util.h"
#include "train/benchmark.h"
#include "train/trainer.h"

using namespace sono;
using namespace sono::test;
namespace fs = std::filesystem;

namespace {

// Dropout stays on: CUDA draws the CPU's Philox masks bit for bit.
model::MultiTaskModelConfig with_dropout(model::MultiTaskModelConfig cfg) {
  cfg.random_seed = 23;
  return cfg;
}

// max |a - b| / max |b|: the whole-model norm of tests/model/test_parity.cpp
// (element-wise rtol is meaningless for entries that cancel to ~0).
double rel_max_error(const Tensor& a, const Tensor& b) {
  const auto x = values(a.to(Device::cpu())), y = values(b);
  REQUIRE(x.size() == y.size());
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) return INFINITY;
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

std::vector<double> step_losses(const fs::path& log) {
  std::vector<double> out;
  std::ifstream f(log);
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.at("type") == "step") out.push_back(j.at("loss").get<double>());
  }
  return out;
}

double mib(size_t bytes) { return double(bytes) / double(1 << 20); }

}  // namespace

TEST_CASE("train cuda: one B4 training step per task type matches the CPU step") {
  SKIP_WITHOUT_CUDA();
  const PrecisionScope fp32(Precision::FP32);  // compared with the CPU: strict FP32
  const double lr = 1e-3;
  uint64_t seed = 9000;
  for (const char* id : kOneTaskPerType) {
    CAPTURE(id);
    model::MultiTaskModel cpu_model(with_dropout(one_task_per_type("efficientnet-b4", 17)));
    model::MultiTaskModel gpu_model(with_dropout(one_task_per_type("efficientnet-b4", 17)));
    gpu_model.to(kGpu);
    cpu_model.train();
    gpu_model.train();
    AdamW cpu_opt = single_group(cpu_model, lr), gpu_opt = single_group(gpu_model, lr);
    const data::Batch cpu_batch = synthetic_batch(cpu_model.tasks().at(id), 2, 256, Device::cpu(), ++seed);
    const data::Batch gpu_batch = batch_to(cpu_batch, kGpu);

    Tensor out_cpu = cpu_model.forward(cpu_batch.images, id);
    Tensor out_gpu = gpu_model.forward(gpu_batch.images, id);
    REQUIRE(out_gpu.device() == kGpu);
    CHECK(rel_max_error(out_gpu, out_cpu) <= tol::kCudaVsCpuModel.rtol);
    Tensor loss_cpu = tasks::task_loss(cpu_batch, out_cpu);
    Tensor loss_gpu = tasks::task_loss(gpu_batch, out_gpu);
    CHECK(std::abs(loss_gpu.item() - loss_cpu.item()) <= tol::kCudaVsCpuModel.rtol * std::abs(loss_cpu.item()));
    loss_cpu.backward();
    loss_gpu.backward();

    const auto cpu_params = cpu_model.named_parameters(), gpu_params = gpu_model.named_parameters();
    REQUIRE(cpu_params.size() == gpu_params.size());
    double worst_grad = 0;
    std::string worst_name;
    std::map<std::string, Tensor> before;
    for (size_t k = 0; k < cpu_params.size(); ++k) {
      const auto& [name, pc] = cpu_params[k];
      const Tensor& pg = gpu_params[k].second;
      REQUIRE(gpu_params[k].first == name);
      REQUIRE(pc.grad().defined() == pg.grad().defined());
      before[name] = pc.detach().clone();
      if (!pc.grad().defined()) continue;
      REQUIRE(pg.grad().device() == kGpu);
      const double e = rel_max_error(pg.grad(), pc.grad());
      if (e > worst_grad) worst_grad = e, worst_name = name;
      CHECK_MESSAGE(e <= tol::kCudaVsCpuModelGrad.rtol, name, ": gradient error ", e);
    }
    MESSAGE(id, ": worst gradient error ", worst_grad, " (", worst_name, ")");

    cpu_opt.step();
    gpu_opt.step();
    // AdamW's first step is ~lr * sign(g): an entry whose gradient is within
    // the f32 error of 0 may move the other way on one device (2 lr apart).
    // Every other entry must agree to a small fraction of lr.
    for (size_t k = 0; k < cpu_params.size(); ++k) {
      const auto& [name, pc] = cpu_params[k];
      if (!pc.grad().defined()) continue;
      const auto c = values(pc), g = values(gpu_params[k].second.to(Device::cpu())), b = values(before[name]);
      size_t off = 0;
      double max_diff = 0;
      for (size_t i = 0; i < c.size(); ++i) {
        const double d = std::abs(g[i] - c[i]);
        max_diff = std::max(max_diff, d);
        if (d > tol::kCudaVsCpuModelStep.rtol * lr + tol::kCudaVsCpuModelStep.atol * std::abs(b[i])) ++off;
      }
      CHECK_MESSAGE(max_diff <= 2.0 * lr * (1 + 1e-3) + 1e-6, name, ": updates differ by ", max_diff);
      CHECK_MESSAGE(double(off) <= 0.01 * double(c.size()) + 1, name, ": ", off, " of ", c.size(),
                    " updated entries differ by more than ", tol::kCudaVsCpuModelStep.rtol, " lr");
    }
  }
}

TEST_CASE("train cuda: 20 training steps follow the CPU's loss curve") {
  SKIP_WITHOUT_CUDA();
  const PrecisionScope fp32(Precision::FP32);  // compared with the CPU: strict FP32
  fs::path root = scratch_dir("sono_test_train_cuda_", "curve");
  data::PhantomOptions po;
  po.images_per_task = 12;
  po.min_size = 64;
  po.max_size = 112;
  po.seed = 31;
  po.det_rows_without_box = 2;  // the no-box path of the detection loss on both devices
  data::write_phantom_dataset((root / "data").string(), po);
  std::map<std::string, std::vector<double>> curves;
  for (Device d : {Device::cpu(), kGpu}) {
    TrainOptions o;
    o.data_dir = (root / "data").string();
    o.out_dir = (root / d.str()).string();
    o.encoder = "efficientnet-b0";
    o.image_size = 64;
    o.batch_size = 4;
    o.epochs = 10;
    o.max_steps = 20;  // crosses an epoch end: validation runs on the device too
    o.num_workers = 1;
    o.progress = false;
    o.seed = 7;
    o.val_fraction = 0.25;
    o.device = d;
    TrainSummary s = train_model(o);
    CHECK(s.steps == 20);
    curves[d.str()] = step_losses(fs::path(o.out_dir) / "log.jsonl");
  }
  const auto& c = curves[Device::cpu().str()];
  const auto& g = curves[kGpu.str()];
  REQUIRE(c.size() == 20);
  REQUIRE(g.size() == 20);
  for (size_t i = 0; i < c.size(); ++i) {
    CAPTURE(i);
    CHECK_MESSAGE(
        std::abs(g[i] - c[i]) <= tol::kCudaVsCpuLossCurve.atol + tol::kCudaVsCpuLossCurve.rtol * std::abs(c[i]),
        "step ", i + 1, ": cuda loss ", g[i], ", cpu loss ", c[i]);
  }
  fs::remove_all(root);
}

TEST_CASE("train cuda: peak memory per task type at batch 20, and no growth over 200 steps") {
  SKIP_WITHOUT_CUDA();
  const int dev = kGpu.index;
  model::MultiTaskModel m(with_dropout(one_task_per_type("efficientnet-b4", 17)));
  m.to(kGpu);
  m.train();
  AdamW opt = benchmark_optimizer(m);
  std::vector<data::Batch> batches;
  uint64_t seed = 500;
  for (const char* id : kOneTaskPerType) batches.push_back(synthetic_batch(m.tasks().at(id), 20, 256, kGpu, ++seed));

  // One step first: the optimizer state exists from then on, as in training.
  for (size_t t = 0; t < batches.size(); ++t) training_step(m, opt, batches[t], kOneTaskPerType[t]).item();
  for (size_t t = 0; t < batches.size(); ++t) {
    PeakMemory peak(kGpu);
    training_step(m, opt, batches[t], kOneTaskPerType[t]).item();
    const auto st = cuda::memory_stats(dev);
    MESSAGE("B4 training step, ", kOneTaskPerType[t], ", batch 20, 256x256: peak ", mib(peak.peak_bytes()),
            " MiB above the model and optimizer state; allocator peak ", mib(st.peak), " MiB, reserved ",
            mib(st.reserved), " MiB");
    CHECK(peak.peak_bytes() > 0);
  }

  // Steps 1..200 rotating the task types: by step 20 the cache holds every
  // block a step needs, so nothing may grow after it.
  cuda::MemoryStats at20;
  for (int step = 1; step <= 200; ++step) {
    const size_t t = size_t(step) % batches.size();
    Tensor loss = training_step(m, opt, batches[t], kOneTaskPerType[t]);
    if (step % 20 == 0) REQUIRE(std::isfinite(loss.item()));  // also bounds the queue
    if (step == 20) at20 = cuda::memory_stats(dev);
  }
  cuda::synchronize(dev);
  const auto at200 = cuda::memory_stats(dev);
  MESSAGE("after step 20: allocated ", mib(at20.allocated), " MiB, reserved ", mib(at20.reserved),
          " MiB, cudaMalloc calls ", at20.device_mallocs, "; after step 200: allocated ", mib(at200.allocated),
          " MiB, reserved ", mib(at200.reserved), " MiB, cudaMalloc calls ", at200.device_mallocs);
  const size_t slack = size_t(tol::kCudaMemorySlackMiB) << 20;
  CHECK(at200.allocated <= at20.allocated + slack);
  CHECK(at200.reserved <= at20.reserved + slack);
}
