// bf16 mixed precision (--precision bf16, core/autocast.h) against fp32 on
// the CPU, for the whole model: one B4 training step per task kind, and a
// short training run on the phantom dataset. Every observed error is printed
// (doctest MESSAGE) and bounded; docs/precision.md lists the figures. These
// live under train: (run once by tools/test.sh) because they are long; the
// policy's unit tests are tests/model/test_autocast.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/autocast.h"
#include "core/autograd.h"
#include "layers/mbconv.h"
#include "model/multitask_model.h"
#include "optim/adamw.h"
#include "tasks/dataset.h"
#include "tasks/task_kind.h"
#include "tests/support/check.h"
#include "tests/train/train_test_util.h"
#include "train/train_state.h"
#include "train/trainer.h"

using namespace sono;
namespace fs = std::filesystem;

namespace {

struct PrecisionScope {
  Precision previous;
  explicit PrecisionScope(Precision p) : previous(precision()) { set_precision(p); }
  ~PrecisionScope() { set_precision(previous); }
};

std::vector<double> flat(const Tensor& t) { return test::values(t.to(DType::F32)); }

double norm(const std::vector<double>& a) {
  double s = 0;
  for (double x : a) s += x * x;
  return std::sqrt(s);
}

// ||a - b|| / ||b||.
double rel_error(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(d) / norm(b);
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d += a[i] * b[i];
  return d / (norm(a) * norm(b));
}

bool all_finite(const std::vector<double>& a) {
  for (double x : a)
    if (!std::isfinite(x)) return false;
  return true;
}

// One training step as train/step.cpp runs it, from the model's initial
// state, keeping what the comparison needs.
struct StepRecord {
  std::vector<double> output;
  double loss = 0;
  std::map<std::string, std::vector<double>> grad;   // group -> its parameters' gradients, concatenated
  std::map<std::string, std::vector<double>> delta;  // group -> p_after - p_before, concatenated
  std::map<std::string, std::vector<double>> after;  // group -> p_after
  std::map<std::string, std::vector<size_t>> sizes;  // group -> the element count of each of those parameters
  std::map<std::string, double> lr;
};

StepRecord run_step(model::MultiTaskModel& m, const nn::NamedTensors& initial, const data::Batch& batch,
                    const std::string& task, Precision p) {
  nn::load_state_dict(m, initial);
  m.random().generator.offset = 0;  // the same dropout and drop-connect masks in both runs
  m.train();
  AdamW opt(make_groups(m, TrainOptions{}));
  StepRecord r;
  opt.zero_grad();
  Tensor out, loss;
  {
    AutocastGuard guard(p);
    out = m.forward(batch.images, task);
    loss = tasks::task_loss(batch, out);
  }
  loss.backward();
  r.output = flat(out);
  r.loss = loss.item();
  std::map<std::string, std::vector<double>> before;
  for (const ParamGroup& g : opt.groups()) {
    for (const Tensor& t : g.params) {
      REQUIRE(t.dtype() == DType::F32);
      if (!t.grad().defined()) continue;
      REQUIRE(t.grad().dtype() == DType::F32);
      auto v = flat(t.grad());
      r.grad[g.name].insert(r.grad[g.name].end(), v.begin(), v.end());
      auto w = flat(t);
      before[g.name].insert(before[g.name].end(), w.begin(), w.end());
      r.sizes[g.name].push_back(v.size());
    }
    r.lr[g.name] = g.lr;
  }
  opt.step();
  for (const ParamGroup& g : opt.groups()) {
    if (!r.grad.count(g.name)) continue;
    for (const Tensor& t : g.params) {
      if (!t.grad().defined()) continue;
      auto w = flat(t);
      r.after[g.name].insert(r.after[g.name].end(), w.begin(), w.end());
    }
    auto& d = r.delta[g.name];
    d = r.after[g.name];
    for (size_t i = 0; i < d.size(); ++i) d[i] -= before[g.name][i];
  }
  return r;
}

// The lowest cosine of one parameter's gradients within a group (parameters
// with a non-zero fp32 gradient), for the report.
double worst_tensor_cosine(const std::vector<double>& b, const std::vector<double>& f,
                           const std::vector<size_t>& sizes) {
  double worst = 1;
  size_t at = 0;
  for (size_t n : sizes) {
    std::vector<double> tb(b.begin() + long(at), b.begin() + long(at + n)),
        tf(f.begin() + long(at), f.begin() + long(at + n));
    at += n;
    if (norm(tf) > 0) worst = std::min(worst, norm(tb) > 0 ? cosine(tb, tf) : 0.0);
  }
  return worst;
}

}  // namespace

// Bounds: measured at OMP_NUM_THREADS 1 and 2 (figures in docs/precision.md)
// with margins of 3x on output errors and on 1 - cosine, 1.75x on gradient
// relative errors (~sqrt(3): |a - b|^2 ~ 2 (1 - cos) |b|^2), 1.5x on update
// errors (sign flips of the smallest gradients), 5x on the loss. The
// per-element update bound is derived: AdamW's first step moves each
// element by lr * g / (|g| + eps) (|.| < lr) after the same decoupled decay,
// so two runs differ by at most 2 lr per element whatever their gradients.
TEST_CASE(
    "bf16 vs fp32: a B4 training step at batch 2, 128x128, one task of each kind (forward, loss, backward, "
    "AdamW)") {
  model::MultiTaskModel m(tasks::model_config());  // efficientnet-b4, random init, all 27 heads
  {
    // Residual branches start at a BatchNorm gain of 0.1 (timm's
    // zero_init_last, short of zero so they still learn): at the default gain
    // of 1 the random network is chaotic at batch 2, where rounding only the
    // input image to bf16 moves the output by 2.4% and turns the encoder's
    // gradient to a cosine of 0.89 with fp32's (measured), which would hide
    // a wrong kernel. Here the same input rounding moves the output by 0.3%.
    NoGradGuard ng;
    for (auto& [name, mod] : m.named_modules())
      if (auto* block = dynamic_cast<nn::MBConvBlock*>(mod))
        if (block->has_residual()) m.tensor(name + "._bn2.weight").fill_(0.1);
  }
  const nn::NamedTensors initial = [&] {
    nn::NamedTensors s;
    for (const auto& [k, v] : m.state_dict()) s.emplace_back(k, v.clone());
    return s;
  }();
  // Per parameter group: lowest gradient cosine, highest gradient and update
  // relative errors. Measured worst of 1 and 2 threads in the comments.
  struct GroupBounds {
    double cosine, grad, update;
  };
  struct Bounds {
    const char* task;
    double output, loss;
    GroupBounds encoder, decoder, head;
  };
  const Bounds kinds[] = {
      // out 0.0170, loss 1.07e-4; encoder cos 0.9791 grad 0.204 update 0.502; decoder 0.9965 0.084 0.375;
      // head 0.99999 0.0057 1.5e-7 (no sign flips of 516: the bound allows a few)
      {"cardiac_multi", 0.052, 5.5e-4, {0.935, 0.36, 0.75}, {0.989, 0.15, 0.56}, {0.9999, 0.012, 0.2}},
      // out 0.0646, loss 0.0058; encoder 0.9978 0.066 0.298; head 0.9989 0.048 0.350
      {"organ_cls", 0.2, 0.03, {0.993, 0.12, 0.45}, {}, {0.996, 0.085, 0.53}},
      // out 0.0171, loss 7.1e-4; encoder 0.9627 0.271 0.599; decoder 0.9685 0.249 0.554; head 0.9894 0.145 0.381
      {"thyroid_nodule_det", 0.052, 0.0036, {0.88, 0.48, 0.9}, {0.9, 0.44, 0.83}, {0.968, 0.26, 0.57}},
      // out 0.0440, loss 0.00116; encoder 0.9973 0.073 0.306; head 0.9991 0.042 0.311
      {"IUGC", 0.135, 0.006, {0.992, 0.13, 0.46}, {}, {0.997, 0.075, 0.47}},
  };
  for (const Bounds& k : kinds) {
    const std::string task = k.task;
    INFO(task);
    const data::Batch batch = tasks::synthetic_batch(m.tasks().at(k.task), 2, 128, Device::cpu(), 17);
    const StepRecord f = run_step(m, initial, batch, k.task, Precision::FP32);
    const StepRecord b = run_step(m, initial, batch, k.task, Precision::BF16);
    REQUIRE(all_finite(b.output));
    REQUIRE(std::isfinite(b.loss));
    const double out_err = rel_error(b.output, f.output);
    const double loss_err = std::abs(b.loss - f.loss) / std::abs(f.loss);
    MESSAGE(task, ": output rel error ", out_err, ", loss ", f.loss, " (fp32) ", b.loss, " (bf16), rel error ",
            loss_err);
    CHECK(out_err < k.output);
    CHECK(loss_err < k.loss);
    // The same groups get gradients: encoder, the decoder for seg and det, the task's head.
    REQUIRE(b.grad.size() == f.grad.size());
    REQUIRE(f.grad.size() == (k.decoder.cosine > 0 ? 3u : 2u));
    for (const auto& [group, gf] : f.grad) {
      INFO(group);
      const GroupBounds& bound = group == "encoder" ? k.encoder : group == "fpn_decoder" ? k.decoder : k.head;
      REQUIRE((group == "encoder" || group == "fpn_decoder" || group == "heads." + task));
      REQUIRE(b.grad.count(group));
      const auto& gb = b.grad.at(group);
      REQUIRE(all_finite(gb));
      const double cos = cosine(gb, gf), rel = rel_error(gb, gf);
      const double upd = rel_error(b.delta.at(group), f.delta.at(group));
      const double worst = worst_tensor_cosine(gb, gf, f.sizes.at(group));
      double max_diff = 0;
      int64_t flips = 0;
      const auto& db = b.delta.at(group);
      // Beyond the derived 2 lr, each result may be one f32 rounding (2^-24 relative) off.
      const double lr = f.lr.at(group);
      double excess = -1;
      for (size_t i = 0; i < db.size(); ++i) {
        const double pb = b.after.at(group)[i], pf = f.after.at(group)[i];
        max_diff = std::max(max_diff, std::abs(pb - pf));
        excess = std::max(excess, std::abs(pb - pf) - (2 * lr + 0x1p-23 * std::max(std::abs(pb), std::abs(pf))));
        if ((gb[i] > 0) != (gf.at(i) > 0)) ++flips;
      }
      MESSAGE(task, " ", group, ": gradient cosine ", cos, " (worst single tensor ", worst, "), rel norm error ", rel,
              "; update rel error ", upd, ", gradient sign differs at ", double(flips) / double(db.size()), " of ",
              db.size(), " elements, max |p_bf16 - p_fp32| after the step ", max_diff, " (lr ", lr, ")");
      CHECK(cos > bound.cosine);
      CHECK(rel < bound.grad);
      CHECK(upd < bound.update);
      CHECK(excess <= 0);
    }
  }
}

namespace {

// The step losses of log.jsonl, in order, with their task.
std::vector<std::pair<std::string, double>> step_losses(const fs::path& log) {
  std::ifstream f(log);
  std::vector<std::pair<std::string, double>> out;
  std::string line;
  while (std::getline(f, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j["type"] == "step") out.emplace_back(j["task"].get<std::string>(), j["loss"].get<double>());
  }
  return out;
}

}  // namespace

TEST_CASE("bf16 vs fp32: 50 training steps on the phantom dataset give the same loss curve within measured bounds") {
  const fs::path root = test::scratch_dir("sono_test_bf16_", "phantom");
  data::write_phantom_dataset((root / "data").string(), test::small_phantom_options(16, 96, 31));
  auto train = [&](Precision p, const char* name) {
    PrecisionScope scope(p);
    TrainOptions o = test::small_train_options((root / "data").string(), root / name, 100);
    o.max_steps = 50;
    o.val_fraction = 0.1;
    o.lr_encoder = 1e-3;  // a clear descent within 50 steps
    // SONO_BF16_SEED picks another run (init, sampler, augmentation) for measuring the bounds.
    if (const char* seed = std::getenv("SONO_BF16_SEED")) o.seed = std::stoull(seed);
    train_model(o);
    return step_losses(root / name / "log.jsonl");
  };
  const auto f = train(Precision::FP32, "fp32");
  const auto b = train(Precision::BF16, "bf16");
  REQUIRE(f.size() == 50);
  REQUIRE(b.size() == 50);
  double gap = 0, worst = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    REQUIRE(f[i].first == b[i].first);  // the same task order (sampler seeded alike)
    REQUIRE(std::isfinite(b[i].second));
    const double g = std::abs(b[i].second - f[i].second) / std::abs(f[i].second);
    gap += g / double(f.size());
    worst = std::max(worst, g);
  }
  // Descent per task: the mean of its last three steps below its first three.
  std::map<std::string, std::vector<std::pair<double, double>>> per_task;
  for (size_t i = 0; i < f.size(); ++i) per_task[f[i].first].push_back({f[i].second, b[i].second});
  std::string curve;
  for (size_t i = 0; i < f.size(); ++i)
    curve += str_cat(i ? ", " : "", f[i].first.substr(8), " ", f[i].second, "/", b[i].second);
  MESSAGE("step losses (task: fp32/bf16): ", curve);
  double mean_f = 0, mean_b = 0, first_f = 0, first_b = 0, last_f = 0, last_b = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    mean_f += f[i].second / 50, mean_b += b[i].second / 50;
    if (i < 10) first_f += f[i].second / 10, first_b += b[i].second / 10;
    if (i >= 40) last_f += f[i].second / 10, last_b += b[i].second / 10;
  }
  const double step1 = std::abs(b[0].second - f[0].second) / f[0].second;
  const double curve_gap = std::abs(mean_b - mean_f) / mean_f;
  MESSAGE("step 1 (the same weights) relative loss gap ", step1, "; mean relative gap per step over 50 steps ", gap,
          ", worst step ", worst, "; mean loss of the 50 steps fp32 ", mean_f, " bf16 ", mean_b, " (rel gap ",
          curve_gap, "); steps 1-10 -> 41-50 fp32 ", first_f, " -> ", last_f, ", bf16 ", first_b, " -> ", last_b);
  // Measured with im2col (1 and 2 threads): step 1 0.0014, per-step gap 0.147
  // and 0.199, curve gap 0.017 and 0.015. With Winograd (the CPU default since
  // 2026-12-03), seeds 5-9 (SONO_BF16_SEED) at 1 and 2 threads: step 1 0.0014,
  // per-step gap 0.10-0.22, curve gap 0.036-0.080 (seed 5, this test's: 0.049
  // at 1 thread, 0.078 at 2). The trajectories part after the first update
  // as any two runs of this randomly initialised network do: fp32 at 1 and at
  // 2 threads (different summation orders) are 0.119 apart per step. The
  // descent below holds for seed 5 at both thread counts (steps 1-10 -> 41-50:
  // fp32 x0.64-0.70, bf16 x0.62-0.64) and seed 9; seeds 6-8 descend less in 50
  // steps in both precisions (fp32 x0.88-0.94), so it is this run's property.
  CHECK(step1 < 0.01);
  CHECK(gap < 0.4);
  CHECK(curve_gap < 0.15);
  CHECK(last_f < 0.8 * first_f);
  CHECK(last_b < 0.8 * first_b);
  // Descent per task: the mean of its last three steps below its first three.
  for (const auto& [task, v] : per_task) {
    INFO(task);
    REQUIRE(v.size() >= 6);
    double f0 = 0, f1 = 0, b0 = 0, b1 = 0;
    for (size_t i = 0; i < 3; ++i) {
      f0 += v[i].first, b0 += v[i].second;
      f1 += v[v.size() - 1 - i].first, b1 += v[v.size() - 1 - i].second;
    }
    double mf = 0, mb = 0;
    for (const auto& [lf, lb] : v) mf += lf / double(v.size()), mb += lb / double(v.size());
    MESSAGE(task, ": first three / last three steps, fp32 ", f0 / 3, " -> ", f1 / 3, ", bf16 ", b0 / 3, " -> ", b1 / 3,
            "; mean over its ", v.size(), " steps fp32 ", mf, " bf16 ", mb, " (rel gap ", std::abs(mb - mf) / mf, ")");
    CHECK(f1 < f0);
    CHECK(b1 < b0);
  }
  fs::remove_all(root);
}
