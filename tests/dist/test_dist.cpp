// Data-parallel training on 2 ranks (docs/distributed.md): run by ctest as
// `mpirun -np 2 test_dist -tc=...` (tests/dist/CMakeLists.txt). Every rank
// also computes the single-process reference itself, so each rank checks its
// own result against it.
#include <doctest/doctest.h>

#include <cmath>

#include "dist/comm.h"
#include "dist/grad_sync.h"
#include "ops/binary.h"
#include "tasks/dataset.h"
#include "tasks/task_kind.h"
#include "tests/support/check.h"
#include "tests/support/skip.h"
#include "tests/support/tolerances.h"
#include "train/benchmark.h"
#include "train/data_parallel.h"

namespace {

using namespace sono;

const char* const kTasks[] = {"cardiac_multi", "organ_cls", "thyroid_nodule_det", "IUGC"};
constexpr int64_t kBatch = 4, kSize = 64;

std::unique_ptr<model::MultiTaskModel> make_model() {
  model::MultiTaskModelConfig cfg = tasks::model_config();
  cfg.encoder = "efficientnet-b0";
  cfg.init_seed = 11;
  cfg.random_seed = 5;
  auto m = std::make_unique<model::MultiTaskModel>(cfg);
  m->train();
  return m;
}

// Rows [lo, hi) of a batch: images and the defined target.
data::Batch rows_of(const data::Batch& b, int64_t lo, int64_t hi) {
  data::Batch s = b;
  auto cut = [&](Tensor& t) {
    if (t.defined()) t = t.slice(0, lo, hi).contiguous();
  };
  cut(s.images);
  cut(s.masks);
  cut(s.labels);
  cut(s.boxes);
  cut(s.points);
  s.rows.assign(b.rows.begin() + lo, b.rows.begin() + hi);
  s.first_slot = lo;
  return s;
}

// This rank's shard as DataParallel::shard cuts it.
std::pair<int64_t, int64_t> shard_range(int rank, int world, int64_t B) {
  return {B * rank / world, B * (rank + 1) / world};
}

std::unique_ptr<dist::Communicator> two_ranks() {
  auto c = dist::make_communicator(120);
  return c;
}

bool skip_unless_two_ranks(const dist::Communicator& c) {
  if (c.world_size() == 2) return false;
  sono::test::skip(str_cat("needs 2 MPI ranks (run under mpirun -np 2), this process is one of ", c.world_size()));
  return true;
}

// Forward + loss + backward of rows [lo, hi) with the dropout stream placed as a rank holding them sees it.
Tensor shard_loss(model::MultiTaskModel& m, const data::Batch& global, const std::string& task, int64_t lo, int64_t hi,
                  uint64_t offset) {
  data::Batch b = rows_of(global, lo, hi);
  m.random().generator.offset = offset;
  m.random().shard_first = lo;
  m.random().shard_total = global.size();
  Tensor out = m.forward(b.images, task);
  Tensor loss = tasks::task_loss(b, out);
  m.random().shard_first = m.random().shard_total = 0;
  return loss;
}

double max_abs(const Tensor& t) {
  double a = 0;
  for (double v : sono::test::values(t)) a = std::max(a, std::abs(v));
  return a;
}

// max |a - e| / max |e| (NaN fails).
double rel_err(const Tensor& actual, const Tensor& expected) {
  const auto a = sono::test::values(actual), e = sono::test::values(expected);
  REQUIRE(a.size() == e.size());
  double err = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i] - e[i]);
    if (!std::isfinite(d)) return INFINITY;
    err = std::max(err, d);
  }
  const double scale = max_abs(expected);
  return scale > 0 ? err / scale : err;
}

}  // namespace

TEST_CASE("dist: the averaged gradient of a 2-rank step is the mean of the two shards' gradients") {
  auto comm = two_ranks();
  if (skip_unless_two_ranks(*comm)) return;
  auto m = make_model();
  AdamW opt = benchmark_optimizer(*m);
  std::vector<Tensor> params;
  for (auto& g : opt.groups())
    for (auto& p : g.params) params.push_back(p);
  dist::GradSync sync(*comm, params, 1 << 20);  // small buckets: several per step
  for (const char* task : kTasks) {
    CAPTURE(std::string(task));
    const data::Batch batch = tasks::synthetic_batch(m->tasks().at(task), kBatch, kSize, Device::cpu(), 3);
    // The reference, in this process: each shard's gradient, weighted 1/2 and added.
    std::map<std::string, Tensor> expected;
    for (int s = 0; s < 2; ++s) {
      const auto [lo, hi] = shard_range(s, 2, kBatch);
      opt.zero_grad();
      shard_loss(*m, batch, task, lo, hi, 1000).backward();
      for (const Tensor& p : params) {
        if (!p.grad().defined()) continue;
        const Tensor half = p.grad() * 0.5;
        auto it = expected.find(p.name());
        if (it == expected.end()) expected[p.name()] = half;
        else it->second = it->second + half;
      }
    }
    // This rank's shard through the buckets and MPI.
    const auto [lo, hi] = shard_range(comm->rank(), 2, kBatch);
    opt.zero_grad();
    Tensor loss = shard_loss(*m, batch, task, lo, hi, 1000);
    sync.begin(loss, 0.5);
    loss.backward();
    const dist::CommStats st = sync.finish();
    CHECK(st.buckets > 1);
    int64_t with_grad = 0;
    for (const Tensor& p : params) {
      auto it = expected.find(p.name());
      CHECK_MESSAGE(p.grad().defined() == (it != expected.end()), p.name());
      if (it == expected.end() || !p.grad().defined()) continue;
      ++with_grad;
      // The same float operations in another order of a commutative sum of two: equal bit for bit.
      CHECK_CLOSE(p.grad(), it->second, sono::test::Tolerance{0.0, 0.0});
    }
    CHECK(with_grad == int64_t(expected.size()));
    CHECK(with_grad < int64_t(params.size()));  // the other tasks' heads stay without a gradient
  }
}

TEST_CASE("dist: with sync-BN a 2-rank training step equals a 1-rank step on the whole batch") {
  DataParallel dp(two_ranks());
  if (skip_unless_two_ranks(dp.comm())) return;
  // Segmentation is left out: its Dice loss is over the batch, not a mean of
  // per-sample terms, so a shard's loss is not a part of the whole batch's
  // (docs/distributed.md, "Where the result depends on N").
  for (const char* task : {"organ_cls", "thyroid_nodule_det", "IUGC"}) {
    CAPTURE(std::string(task));
    auto ref = make_model();
    AdamW ref_opt = benchmark_optimizer(*ref);
    auto m = make_model();
    AdamW opt = benchmark_optimizer(*m);
    dp.attach(*m, opt, /*sync_bn=*/true, 1 << 20);
    const data::Batch batch = tasks::synthetic_batch(ref->tasks().at(task), kBatch, kSize, Device::cpu(), 9);

    // 1 rank, whole batch.
    ref_opt.zero_grad();
    Tensor out_full = ref->forward(batch.images, task);
    Tensor ref_loss = tasks::task_loss(batch, out_full);
    ref_loss.backward();
    std::map<std::string, Tensor> ref_grads, before;
    for (auto& g : ref_opt.groups())
      for (auto& p : g.params)
        if (p.grad().defined()) ref_grads[p.name()] = p.grad().clone(), before[p.name()] = p.detach().clone();
    ref_opt.step();
    const double lr = ref_opt.groups()[0].lr;

    // 2 ranks, this rank's shard.
    const auto [lo, hi] = shard_range(dp.rank(), 2, kBatch);
    m->random().generator.offset = 0;
    const StepResult r = dp.step(*m, opt, rows_of(batch, lo, hi), task, Device::cpu(), kBatch);

    const double out_err = rel_err(r.output, out_full.detach().slice(0, lo, hi).contiguous());
    CHECK_MESSAGE(out_err <= sono::test::tol::kParityOutput.rtol, "output error ", out_err);
    CHECK(std::abs(r.loss - ref_loss.item()) <= 1e-4 * std::abs(ref_loss.item()));
    // Gradients: max error relative to the largest gradient of the parameter's
    // group (a block, a decoder stage, a head), as the parity tests measure
    // them: a BN bias followed by conv + BN has a gradient that is 0 in exact
    // arithmetic, rounding noise in both runs, meaningless against itself.
    auto group_of = [](const std::string& name) {
      size_t cut = name.find('.');
      for (int k = 0; k < 2 && cut != std::string::npos; ++k) cut = name.find('.', cut + 1);
      return name.substr(0, cut);
    };
    std::map<std::string, double> group_scale;
    for (auto& [name, g] : ref_grads) group_scale[group_of(name)] = std::max(group_scale[group_of(name)], max_abs(g));
    double worst_grad = 0, worst_update = 0;
    std::string worst_grad_name, worst_update_name;
    int64_t compared = 0, updates_compared = 0;
    const auto ref_params = ref->named_parameters();
    for (auto& [name, p] : m->named_parameters()) {
      auto it = ref_grads.find(p.name());
      CHECK_MESSAGE(p.grad().defined() == (it != ref_grads.end()), name);
      if (it == ref_grads.end() || !p.grad().defined()) continue;
      ++compared;
      const double scale = group_scale[group_of(p.name())];
      const auto g = sono::test::values(p.grad()), ge = sono::test::values(it->second);
      const auto pv = sono::test::values(p), p0 = sono::test::values(before[p.name()]);
      std::vector<double> pe;
      for (auto& [rname, rp] : ref_params)
        if (rname == name) pe = sono::test::values(rp);
      REQUIRE(pe.size() == pv.size());
      for (size_t i = 0; i < g.size(); ++i) {
        const double e = std::abs(g[i] - ge[i]) / scale;
        if (!(e <= worst_grad)) worst_grad = e, worst_grad_name = name;
        // Updates: AdamW's first step is ~lr * sign(g), so only elements whose
        // gradient stands clear of the rounding noise have a defined update.
        if (std::abs(ge[i]) < 1e-2 * scale) continue;
        ++updates_compared;
        const double u = std::abs((pv[i] - p0[i]) - (pe[i] - p0[i])) / lr;
        if (!(u <= worst_update)) worst_update = u, worst_update_name = name;
      }
    }
    CHECK(compared == int64_t(ref_grads.size()));
    CHECK(updates_compared > 0);
    MESSAGE("rank ", dp.rank(), " ", task, ": output ", out_err, ", worst gradient ", worst_grad, " (", worst_grad_name,
            "), worst update ", worst_update, " of lr (", worst_update_name, "), ", updates_compared, " elements");
    // The parity tests' bounds and reasons (tests/support/tolerances.h): below
    // a ReLU (detection's decoder) an input within rounding of 0 may take the
    // other branch in one run.
    const double grad_tol = std::string(task) == "thyroid_nodule_det" ? sono::test::tol::kParityGradF32Relu.rtol
                                                                      : sono::test::tol::kParityGrad.rtol;
    CHECK_MESSAGE(worst_grad <= grad_tol, "gradient of ", worst_grad_name, ": ", worst_grad);
    CHECK_MESSAGE(worst_update <= 1e-3, "update of ", worst_update_name, ": ", worst_update);
  }
}

TEST_CASE("dist: launch_env reads mpirun's, PMI's and torchrun-style variables") {
  // Run as a single process (no launcher variables of its own).
  const std::vector<const char*> names = dist::launch_env_vars();
  for (const char* n : names)
    if (std::getenv(n)) {
      sono::test::skip(str_cat("runs without a launcher, but ", n, " is set"));
      return;
    }
  CHECK(dist::launch_env().world_size == 1);
  CHECK(dist::launch_env().source.empty());
  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "3", 1);
  setenv("LOCAL_RANK", "1", 1);
  dist::LaunchEnv e = dist::launch_env();
  CHECK(e.world_size == 4);
  CHECK(e.rank == 3);
  CHECK(e.local_rank == 1);
  setenv("OMPI_COMM_WORLD_SIZE", "2", 1);  // mpirun's win
  setenv("OMPI_COMM_WORLD_RANK", "1", 1);
  e = dist::launch_env();
  CHECK(e.world_size == 2);
  CHECK(e.rank == 1);
  setenv("OMPI_COMM_WORLD_RANK", "2", 1);
  CHECK_THROWS_WITH_AS(dist::launch_env(), doctest::Contains("rank 2 is not below the world size 2"), Error);
  setenv("OMPI_COMM_WORLD_RANK", "x1", 1);
  CHECK_THROWS_WITH_AS(dist::launch_env(), doctest::Contains("OMPI_COMM_WORLD_RANK='x1'"), Error);
  for (const char* n : names) unsetenv(n);
}
