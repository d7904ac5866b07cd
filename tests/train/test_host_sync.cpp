// Host waits of a training step, counted by core/host_sync.h on the CPU
// build: the step (forward, loss, backward, AdamW) and its logged loss wait
// exactly once, the loss read-back, for every task type; so does each step of
// the trainer's loop. The CUDA build asserts the same of a GPU step
// (tests/train/cuda/test_host_sync_cuda.cpp).
#include <doctest/doctest.h>

#include <cmath>

#include "core/host_sync.h"
#include "ops/ops.h"
#include "tests/train/train_test_util.h"
#include "train/step.h"

using namespace sono;
namespace fs = std::filesystem;

TEST_CASE("host sync: a training step and its logged loss wait once, for every task type") {
  model::MultiTaskModel m(test::one_task_per_type("efficientnet-b0", 3));
  m.train();
  AdamW opt = test::single_group(m, 1e-3);
  uint64_t seed = 40;
  for (const char* id : test::kOneTaskPerType) {
    CAPTURE(id);
    const data::Batch b = tasks::synthetic_batch(m.tasks().at(id), 2, 64, Device::cpu(), ++seed);
    training_step(m, opt, b, id).item();  // first step: AdamW's state is made
    HostSyncCounter counter;
    Tensor loss = training_step(m, opt, b, id);
    CHECK(counter.total() == 0);  // forward, loss, backward and AdamW queue without waiting
    const double lv = loss.item();
    CHECK(std::isfinite(lv));
    const HostSyncCounts c = counter.counts();
    CHECK(c.read_backs == 1);
    CHECK(c.total() == 1);
  }
}

TEST_CASE("host sync: reads inside a CPU kernel are not host waits, reads from host code are") {
  Tensor x = Tensor::full({3}, 2.0, DType::F32).set_requires_grad(true);
  HostSyncCounter counter;
  Tensor l = mse_loss(x, Tensor::zeros({3}, DType::F32));
  l.backward();  // the backward kernel reads grad_loss with item(): the device's own read
  CHECK(counter.total() == 0);
  CHECK(l.item() == doctest::Approx(4.0));
  CHECK(sum(x.grad()).item() == doctest::Approx(4.0));  // d mean(x^2) / dx = 2x / 3
  CHECK(counter.counts().read_backs == 2);
}

TEST_CASE("host sync: each step of the trainer's loop waits once") {
  fs::path root = test::scratch_dir("sono_test_host_sync", "loop");
  data::write_phantom_dataset((root / "data").string(), test::small_phantom_options(4, 96, 11));
  TrainOptions o = test::small_train_options((root / "data").string(), root / "out", 1);
  o.val_fraction = 0;  // the count is of the steps: no validation
  o.max_steps = 5;
  HostSyncCounter counter;
  const TrainSummary s = train_model(o);
  CHECK(s.steps == 5);
  CHECK(counter.total() == 5);
  fs::remove_all(root);
}
