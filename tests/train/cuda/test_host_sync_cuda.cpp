// Host waits on CUDA (core/host_sync.h): a GPU training step, as the trainer
// runs it (its batch copied by an Upload on the copy stream), waits for the
// device exactly once, at its loss read-back; bad class indices and gather
// cells are judged on the device and reported by that read-back with the
// CPU's message; uploads never wait. Beyond the counter, each case holds the
// device's stream with a host callback that sleeps: work that waited for the
// device anywhere would have had to wait for the callback to finish.
// Every case skips (printing "skipped: no CUDA device") without a GPU.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "core/cuda/context.h"
#include "core/host_sync.h"
#include "core/transfer.h"
#include "ops/ops.h"
#include "tests/ops/cuda/cuda_check.h"
#include "tests/train/train_test_util.h"
#include "train/step.h"

using namespace sono;
using namespace sono::test;

namespace {

// Holds cuda:0's stream for `ms` milliseconds from construction; passed()
// tells whether the device has got past it.
class StreamStall {
 public:
  explicit StreamStall(int ms) : ms_(ms) {
    REQUIRE(cudaLaunchHostFunc(cuda::current_stream(0), &StreamStall::run, this) == cudaSuccess);
  }
  ~StreamStall() {
    while (!done_) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // the callback uses this
  }
  bool passed() const { return done_; }

 private:
  static void CUDART_CB run(void* self) {
    auto* s = static_cast<StreamStall*>(self);
    std::this_thread::sleep_for(std::chrono::milliseconds(s->ms_));
    s->done_ = true;
  }
  const int ms_;
  std::atomic<bool> done_{false};
};

constexpr int kStallMs = 3000;

// The trainer's step (train/trainer.cpp with train/batch_prefetch.h): the
// batch's tensors uploaded on the copy stream, boxes left on the host.
Tensor prefetched_step(model::MultiTaskModel& m, AdamW& opt, const data::Batch& host, const std::string& id) {
  Upload up({host.images, host.masks, host.labels, host.points}, kGpu);
  std::vector<Tensor> t = up.take();
  data::Batch b = host;
  b.images = t[0];
  b.masks = t[1];
  b.labels = t[2];
  b.points = t[3];
  return training_step(m, opt, b, id, kGpu);
}

}  // namespace

TEST_CASE("host sync cuda: a training step waits for the device once, at its loss, for every task type") {
  SKIP_WITHOUT_CUDA();
  model::MultiTaskModel m(one_task_per_type("efficientnet-b0", 3));
  m.to(kGpu);
  m.train();
  AdamW opt = single_group(m, 1e-3);
  uint64_t seed = 60;
  for (const char* id : kOneTaskPerType) {
    CAPTURE(id);
    const data::Batch host = tasks::synthetic_batch(m.tasks().at(id), 4, 64, Device::cpu(), ++seed);
    // Warm-up: handles, cuDNN plans, cached blocks, staging blocks, AdamW state.
    for (int i = 0; i < 2; ++i) prefetched_step(m, opt, host, id).item();
    StreamStall stall(kStallMs);
    HostSyncCounter counter;
    Tensor loss = prefetched_step(m, opt, host, id);
    CHECK(counter.total() == 0);
    CHECK_MESSAGE(!stall.passed(), "the step's queueing waited for the device");
    const double lv = loss.item();
    CHECK(stall.passed());
    CHECK(std::isfinite(lv));
    const HostSyncCounts c = counter.counts();
    CHECK(c.blocking_copies == 1);
    CHECK(c.total() == 1);
  }
}

TEST_CASE("host sync cuda: a bad class index is reported by the read-back with the CPU's message") {
  SKIP_WITHOUT_CUDA();
  Tensor logits = Tensor::full({4, 3}, 0.5, DType::F32, kGpu);
  Tensor bad = Tensor::from_vector(std::vector<int64_t>{0, 1, 7, 2}, {4}).to(kGpu);
  Tensor good = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 2}, {4}).to(kGpu);
  {
    StreamStall stall(500);
    HostSyncCounter counter;
    Tensor l = cross_entropy(logits, bad);
    CHECK(counter.total() == 0);
    CHECK(!stall.passed());
    CHECK_THROWS_WITH_AS(
        l.item(), doctest::Contains("cross_entropy: target i64[4] cuda:0 holds class 7, outside [0, 3) for logits"),
        Error);
    CHECK(counter.total() == 1);
  }
  CHECK(std::isfinite(cross_entropy(logits, good).item()));  // the failure was cleared
  Tensor z = Tensor::full({1, 3, 2, 2}, 0.5, DType::F32, kGpu);
  Tensor mask = Tensor::from_vector(std::vector<int64_t>{0, 1, -1, 2}, {1, 2, 2}).to(kGpu);
  Tensor dl = dice_loss(z, mask);
  CHECK_THROWS_WITH_AS(dl.item(), doctest::Contains("dice_loss: target i64[1, 2, 2] cuda:0 holds class -1"), Error);
}

TEST_CASE("host sync cuda: a gather cell outside the input is reported by the read-back") {
  SKIP_WITHOUT_CUDA();
  Tensor x = Tensor::full({3, 2, 5, 6}, 1.0, DType::F32, kGpu);
  Tensor rows = Tensor::from_vector(std::vector<int64_t>{0, 5, 1}, {3}).to(kGpu);
  Tensor cols = Tensor::from_vector(std::vector<int64_t>{0, 1, 2}, {3}).to(kGpu);
  HostSyncCounter counter;
  Tensor out = gather_cells(x, rows, cols);
  CHECK(counter.total() == 0);
  CHECK_THROWS_WITH_AS(out.to(Device::cpu()),
                       doctest::Contains("gather_cells: sample 1 has row index 5 outside [0, 5)"), Error);
  Tensor ok = Tensor::from_vector(std::vector<int64_t>{0, 4, 1}, {3}).to(kGpu);
  CHECK(values(gather_cells(x, ok, cols).to(Device::cpu())) == std::vector<double>(6, 1.0));
}

TEST_CASE("host sync cuda: uploads return without waiting for the device") {
  SKIP_WITHOUT_CUDA();
  std::vector<float> v(300000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i % 1000);
  Tensor host = Tensor::from_vector(v, {int64_t(v.size())});
  Tensor a, b;
  {
    StreamStall stall(500);
    HostSyncCounter counter;
    a = host.to(kGpu);
    Upload up({host, Tensor()}, kGpu);
    std::vector<Tensor> t = up.take();
    CHECK_FALSE(t[1].defined());
    b = t[0];
    host = Tensor();  // the source may go at once
    CHECK(counter.total() == 0);
    CHECK(!stall.passed());
  }
  CHECK(a.to_vector<float>() == v);
  CHECK(b.to_vector<float>() == v);
}
