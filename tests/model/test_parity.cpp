// Whole-model parity with the PyTorch reference (the official baseline built
// with SMP 0.5.0; tools/reference/dump_parity.py): the B4 MultiTaskModel with
// the official 27 tasks, loaded with the reference's random weights, runs one
// training step per task type (train-mode BatchNorm, dropout and drop-connect
// off) and is compared tensor by tensor with the dump: output, loss, encoder
// features and decoder output (segmentation), the detection centre cells,
// every buffer after the forward, the set of parameters with a gradient and
// every gradient, and (f32) the AdamW step.
//
// Two fixture sets under $SONO_REF_FIXTURES (tools/reference/make_fixtures.sh;
// tools/test.sh sets the variable); without them every case skips, saying why:
//   b4      f32, batch 2, 256x256: Sono in f32, the real configuration;
//   b4_f64  the same step computed in float64 (stored as f32), batch 2,
//           128x128: Sono in f64. No ReLU can change branch through rounding
//           here, so gradients are compared to the storage precision.
//
// Norms (tolerances in tests/support/tolerances.h):
//   output, loss, features, decoder: max|a - b| / max|b| over the tensor;
//   running_var: the same; running_mean: max|a - b| / sqrt(max running_var)
//     of the layer, i.e. in units of the running std: most batch means are 0
//     in theory (the input of an expansion conv is a sum of BN outputs) and
//     hold rounding noise only, on both sides;
//   gradients: max|a - b| / max|b| over the tensor's GROUP (encoder, decoder,
//     head): some gradients are exactly 0 in theory (a _bn2.bias followed by a
//     train-mode BatchNorm) and hold only rounding noise, so no per-tensor
//     scale exists for them;
//   AdamW step: max|p_sono - p_torch| against the reference update
//     max|p_torch - p_before| (~ lr), fed with the DUMPED gradients: Adam's
//     first step turns noise gradients into +-lr steps of random sign, so
//     only identical gradients make the update comparable.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/autograd.h"
#include "data/batch.h"
#include "io/safetensors.h"
#include "layers/module.h"
#include "model/multitask_model.h"
#include "optim/adamw.h"
#include "tasks/dataset.h"
#include "tasks/detection.h"
#include "tasks/task_kind.h"
#include "tests/support/check.h"
#include "tests/support/skip.h"

using namespace sono;
using namespace sono::model;
using namespace sono::test;

namespace {

// The official recipe (docs/reference-model.md 6.1): encoder 1e-4, one group per head at
// 1e-3, the decoder in no group, weight decay 0.01.
constexpr double kLrEncoder = 1e-4;
constexpr double kLrHeads = 1e-3;
constexpr double kWeightDecay = 0.01;

// One fixture set and how Sono is compared with it.
struct ParitySet {
  const char* subdir;
  DType dtype;       // Sono's compute dtype
  double output;     // output, loss, features, buffers
  double grad;       // gradients with no ReLU between them and the loss
  double grad_relu;  // gradients below a ReLU
  bool optimizer;    // the fixture has the AdamW step
};
const ParitySet kF32{"b4", DType::F32, tol::kParityOutput.rtol, tol::kParityGrad.rtol, tol::kParityGradF32Relu.rtol,
                     true};
const ParitySet kF64{"b4_f64", DType::F64, tol::kParityF64.rtol, tol::kParityF64.rtol, tol::kParityF64.rtol, false};

using TensorMap = std::map<std::string, Tensor>;

struct Fixture {
  TensorMap tensors;
  std::map<std::string, std::string> metadata;

  const Tensor& at(const std::string& key) const {
    auto it = tensors.find(key);
    REQUIRE_MESSAGE(it != tensors.end(), "fixture has no key '", key, "'");
    return it->second;
  }
  bool has(const std::string& key) const { return tensors.count(key) != 0; }
};

// "" when the set is absent (the case then skips, saying why).
std::string fixture_dir(const ParitySet& set) {
  const std::string weights = ref_fixture(std::string(set.subdir) + "/weights.safetensors",
                                          "tools/reference/make_fixtures.sh $SONO_REF_FIXTURES");
  return weights.empty() ? "" : std::filesystem::path(weights).parent_path().string();
}

Fixture read_fixture(const std::string& path) {
  nn::SafetensorsFile file = nn::read_safetensors(path);
  Fixture f;
  f.metadata = std::move(file.metadata);
  for (auto& kv : file.tensors) f.tensors.emplace(kv.first, kv.second);
  return f;
}

// Dropout p = 0 and drop-connect rate 0, as in the dump; BatchNorm still
// uses batch statistics in train mode.
MultiTaskModelConfig parity_config() {
  MultiTaskModelConfig c = tasks::model_config();
  c.encoder = "efficientnet-b4";
  c.decoder.dropout = 0.0;
  c.classification_dropout = 0.0;
  c.drop_connect_rate = 0.0;
  return c;
}

// One model per dtype, reloaded by every case.
MultiTaskModel& b4(DType dtype) {
  static std::map<DType, std::unique_ptr<MultiTaskModel>> models;
  auto& m = models[dtype];
  if (!m) {
    m = std::make_unique<MultiTaskModel>(parity_config());
    m->to(dtype);
  }
  return *m;
}

// Loads the reference weights strictly (f32 values; exact in f64 too).
void load_reference_weights(MultiTaskModel& m, const Fixture& w) {
  nn::LoadOptions opt;
  opt.allow_float_conversion = true;  // f32 file into the f64 model
  const nn::NamedTensors weights(w.tensors.begin(), w.tensors.end());
  const nn::LoadReport r = nn::load_state_dict(m, weights, opt);  // strict
  REQUIRE(r.loaded == int64_t(m.state_dict().size()));
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

enum Group { kEncoder, kDecoder, kHead, kGroups };
const char* const kGroupNames[kGroups] = {"encoder", "decoder", "head"};

Group group_of(const std::string& name) {
  if (starts_with(name, "encoder.")) return kEncoder;
  if (starts_with(name, "fpn_decoder.")) return kDecoder;
  return kHead;
}

// Whether a ReLU lies between the group's parameters and the loss: the
// decoder's Conv3x3GNReLU units (encoder and decoder of segmentation and
// detection) and the detection head's conv_block. The segmentation head is
// a conv and an upsampling; classification and regression use SiLU only.
bool below_relu(TaskType type, Group group) {
  if (type == TaskType::Detection) return true;
  return type == TaskType::Segmentation && group != kHead;
}

// max|a - b| and max|b| (accumulated in double). NaN/Inf in either makes
// max_diff infinite so no comparison can pass.
struct Deviation {
  double max_diff = 0, max_ref = 0;
  double sum_sq_diff = 0, sum_sq_ref = 0;  // for relative L2 norms over a group
  double relative() const { return max_ref > 0 ? max_diff / max_ref : (max_diff > 0 ? INFINITY : 0.0); }
};

Deviation deviation(const Tensor& actual, const Tensor& expected, const std::string& what) {
  REQUIRE_MESSAGE(actual.defined(), what, ": Sono's tensor is undefined");
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), what, ": Sono ", actual.describe(), " vs reference ",
                  expected.describe());
  const std::vector<double> a = values(actual), e = values(expected);
  Deviation d;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::fabs(a[i] - e[i]);
    d.max_diff = std::isfinite(diff) ? std::max(d.max_diff, diff) : INFINITY;
    d.max_ref = std::max(d.max_ref, std::fabs(e[i]));
    d.sum_sq_diff += std::isfinite(diff) ? diff * diff : INFINITY;
    d.sum_sq_ref += e[i] * e[i];
  }
  return d;
}

// The largest error of a set of comparisons and where it occurred.
struct Worst {
  double error = 0;
  std::string where = "-";
  void add(double e, const std::string& name) {
    if (!(e <= error)) {  // NaN wins too
      error = e;
      where = name;
    }
  }
};

// Records err for `what` and checks it against tol.
void check_error(double err, double tol, const std::string& what, Worst& worst) {
  worst.add(err, what);
  CHECK_MESSAGE(err <= tol, what, ": error ", err, " > ", tol);
}

void check_relative(const Tensor& actual, const Tensor& expected, double tol, const std::string& what, Worst& worst) {
  check_error(deviation(actual, expected, what).relative(), tol, what, worst);
}

// Integer tensors (num_batches_tracked, centre cells) must match exactly.
void check_equal_ints(const Tensor& actual, const Tensor& expected, const std::string& what) {
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), what, ": ", actual.describe(), " vs ", expected.describe());
  CHECK_MESSAGE(actual.to(DType::I64).contiguous().to_vector<int64_t>() ==
                    expected.to(DType::I64).contiguous().to_vector<int64_t>(),
                what, " differs");
}

// The training loss exactly as the trainer computes it (tasks::task_loss).
Tensor parity_loss(TaskType type, const Tensor& output, const Tensor& target) {
  data::Batch b;
  switch (type) {
    case TaskType::Segmentation:
      b.type = TaskType::Segmentation;
      b.masks = target;
      break;
    case TaskType::Classification:
      b.type = TaskType::Classification;
      b.labels = target;
      break;
    case TaskType::Regression:
      b.type = TaskType::Regression;
      b.points = target;
      break;
    case TaskType::Detection:
      b.type = TaskType::Detection;
      b.boxes = target;
      break;
  }
  return tasks::task_loss(b, output);
}

// output[b, :, row, col] at the loss's centre cells, read directly (the loss
// gathers it with gather_cells), and the cells themselves.
void check_detection_cells(const Tensor& out, const Tensor& boxes, const Fixture& f, double tol, Worst& worst) {
  std::vector<int64_t> rows, cols;
  tasks::centre_cells(boxes, out.size(2), out.size(3), rows, cols);
  const int64_t n = int64_t(rows.size()), c = out.size(1), h = out.size(2), w = out.size(3);
  std::vector<int64_t> cells;
  for (int64_t b = 0; b < n; ++b) cells.insert(cells.end(), {rows[size_t(b)], cols[size_t(b)]});
  check_equal_ints(Tensor::from_vector(cells, {n, 2}), f.at("det.cell"), "det.cell");
  const std::vector<double> o = values(out);
  std::vector<double> pred;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < c; ++k)
      pred.push_back(o[size_t(((b * c + k) * h + rows[size_t(b)]) * w + cols[size_t(b)])]);
  check_relative(Tensor::from_vector(pred, {n, c}), f.at("det.pred"), tol, "det.pred", worst);
}

// Every buffer after the train-mode forward: running statistics of the BNs
// that ran, untouched ones elsewhere (e.g. the encoder's _bn1).
void check_buffers(const MultiTaskModel& m, const Fixture& f, double tol, Worst& worst) {
  for (const auto& [name, buf] : m.named_buffers()) {
    const Tensor& ref = f.at("buffer." + name);
    if (buf.dtype() == DType::I64) {
      check_equal_ints(buf, ref, name);
    } else if (ends_with(name, ".running_mean")) {
      const std::string layer = name.substr(0, name.size() - std::string(".running_mean").size());
      const std::vector<double> var = values(f.at("buffer." + layer + ".running_var"));
      const double running_std = std::sqrt(*std::max_element(var.begin(), var.end()));
      check_error(deviation(buf, ref, name).max_diff / running_std, tol, name, worst);
    } else {
      check_relative(buf, ref, tol, name, worst);
    }
  }
}

std::vector<ParamGroup> official_groups(const MultiTaskModel& m) {
  auto group = [](const std::string& name, std::vector<Tensor> params, double lr) {
    ParamGroup g;
    g.name = name;
    g.params = std::move(params);
    g.lr = g.initial_lr = lr;
    g.weight_decay = kWeightDecay;
    return g;
  };
  std::vector<ParamGroup> groups{group("encoder", m.encoder().parameters(), kLrEncoder)};
  for (const auto& kv : m.heads().items())
    groups.push_back(group("heads." + kv.first, kv.second->parameters(), kLrHeads));
  return groups;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

// One training step of `task` from the reference weights, compared with
// <set>/<task>.safetensors. Prints the task's table of maximum errors.
void check_task(const ParitySet& set, const std::string& task) {
  const std::string dir = fixture_dir(set);
  if (dir.empty()) return;
  const Fixture w = read_fixture(dir + "/weights.safetensors");
  const Fixture f = read_fixture(dir + "/" + task + ".safetensors");
  REQUIRE(f.metadata.at("task") == task);
  REQUIRE(f.metadata.at("encoder") == "efficientnet-b4");
  REQUIRE(f.metadata.at("compute_dtype") == (set.dtype == DType::F64 ? "float64" : "float32"));
  // The fixture must describe the recipe this test replays.
  CHECK(std::stod(f.metadata.at("lr_encoder")) == kLrEncoder);
  CHECK(std::stod(f.metadata.at("lr_heads")) == kLrHeads);
  CHECK(std::stod(f.metadata.at("weight_decay")) == kWeightDecay);
  CHECK(starts_with(f.metadata.at("lr_decoder"), "none"));

  MultiTaskModel& m = b4(set.dtype);
  const TaskSpec& spec = m.tasks().at(task);
  CHECK(task_type_name(spec.type) == f.metadata.at("task_type"));
  load_reference_weights(m, w);
  m.zero_grad();
  m.train();

  // ---- forward --------------------------------------------------------------
  Worst w_out, w_loss, w_feat, w_dec, w_buf;
  const Tensor x = f.at("x").to(set.dtype);
  const uint64_t draws = m.random().generator.offset;
  Tensor out;
  if (spec.type == TaskType::Segmentation) {
    // MultiTaskModel::forward's segmentation route, step by step so the
    // encoder features and the decoder output can be compared (a second
    // forward would update the BN running statistics twice).
    std::vector<Tensor> features = m.encoder().forward(x);
    REQUIRE(features.size() == 6);
    for (size_t i = 0; i < features.size(); ++i) {
      const std::string key = "feature." + std::to_string(i);
      check_relative(features[i], f.at(key), set.output, key, w_feat);
    }
    Tensor decoded = m.decoder().forward(features);
    check_relative(decoded, f.at("decoder"), set.output, "decoder", w_dec);
    out = m.head(task).forward(decoded);
  } else {
    out = m.forward(x, task);
  }
  CHECK_MESSAGE(m.random().generator.offset == draws, "a random layer drew numbers with p = 0");
  check_relative(out, f.at("output"), set.output, "output", w_out);

  const Tensor& target = f.at("target");
  Tensor loss = parity_loss(spec.type, out, target);
  check_relative(loss, f.at("loss"), set.output, "loss", w_loss);
  if (spec.type == TaskType::Detection) check_detection_cells(out, target, f, set.output, w_out);
  check_buffers(m, f, set.output, w_buf);

  // ---- backward -------------------------------------------------------------
  loss.backward();
  const nn::NamedTensors params = m.named_parameters();
  std::set<std::string> with_grad, expected_grad;
  for (const auto& [name, p] : params)
    if (p.grad().defined()) with_grad.insert(name);
  for (const auto& kv : f.tensors)
    if (starts_with(kv.first, "grad.")) expected_grad.insert(kv.first.substr(5));
  CHECK(with_grad.size() == expected_grad.size());
  for (const auto& name : with_grad)
    CHECK_MESSAGE(expected_grad.count(name), name, " has a gradient in Sono but not in the reference");
  for (const auto& name : expected_grad)
    CHECK_MESSAGE(with_grad.count(name), name, " has a gradient in the reference but not in Sono");

  double group_scale[kGroups] = {0, 0, 0};
  std::vector<std::pair<std::string, Deviation>> grad_dev;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined() || !expected_grad.count(name)) continue;
    const Deviation d = deviation(p.grad(), f.at("grad." + name), "grad." + name);
    grad_dev.emplace_back(name, d);
    group_scale[group_of(name)] = std::max(group_scale[group_of(name)], d.max_ref);
  }
  Worst w_grad[kGroups];
  double l2_diff[kGroups] = {0, 0, 0}, l2_ref[kGroups] = {0, 0, 0};
  for (const auto& [name, d] : grad_dev) {
    const Group g = group_of(name);
    const double tol = below_relu(spec.type, g) ? set.grad_relu : set.grad;
    check_error(d.max_diff / group_scale[g], tol, "grad." + name, w_grad[g]);
    l2_diff[g] += d.sum_sq_diff;
    l2_ref[g] += d.sum_sq_ref;
  }
  // The group's relative L2 error ||a - b|| / ||b|| over all its gradient
  // elements, reported beside the max-norm and held to the same bounds.
  double rel_l2[kGroups] = {0, 0, 0};
  for (int g = 0; g < kGroups; ++g) {
    if (l2_ref[g] == 0) continue;
    rel_l2[g] = std::sqrt(l2_diff[g]) / std::sqrt(l2_ref[g]);
    const double tol = below_relu(spec.type, Group(g)) ? set.grad_relu : set.grad;
    CHECK_MESSAGE(rel_l2[g] <= tol, kGroupNames[g], " gradients: relative L2 error ", rel_l2[g], " > ", tol);
  }

  // ---- AdamW step from the reference's gradients ----------------------------
  Worst w_step[kGroups];
  int64_t stepped = 0;
  if (set.optimizer) {
    for (const auto& [name, p] : params) {
      if (expected_grad.count(name)) p.set_grad(f.at("grad." + name));
      else p.reset_grad();
    }
    AdamW opt(official_groups(m));
    opt.step();
    for (const auto& [name, p] : params) {
      const Tensor& before = w.at(name);
      if (f.has("step." + name)) {
        ++stepped;
        const Tensor& ref = f.at("step." + name);
        const double update = deviation(ref, before, "update of " + name).max_diff;
        const Deviation d = deviation(p, ref, "step." + name);
        const double e = d.max_diff / update;
        w_step[group_of(name)].add(e, name);
        CHECK_MESSAGE(d.max_diff <= tol::kParityStep.rtol * update + tol::kParityStep.atol * d.max_ref, "step.", name,
                      ": error ", d.max_diff, " is ", e, " of the update ", update);
      } else {
        // No gradient, or not in the optimizer (the decoder): bitwise unchanged.
        CHECK_MESSAGE(deviation(p, before, name).max_diff == 0.0, name, " changed without a reference step");
      }
    }
    CHECK(stepped > 0);
    m.zero_grad();
  }

  std::string grads, scales;
  for (int g = 0; g < kGroups; ++g) {
    if (group_scale[g] == 0) continue;
    grads += std::string(" ") + kGroupNames[g] + " " + fmt(w_grad[g].error) + " (" + w_grad[g].where + "; rel L2 " +
             fmt(rel_l2[g]) + ")";
    scales += std::string(" ") + kGroupNames[g] + " " + fmt(group_scale[g]);
  }
  MESSAGE("parity ", std::string(set.subdir), " ", task, ": max errors (worst tensor)\n", "  output  ",
          fmt(w_out.error), "  loss ", fmt(w_loss.error), " (Sono ", loss.item(), ", torch ", f.at("loss").item(),
          ")\n", "  features ", fmt(w_feat.error), " (", w_feat.where, ")  decoder ", fmt(w_dec.error), "\n",
          "  buffers ", fmt(w_buf.error), " (", w_buf.where, ")\n", "  grads  ", grads, "\n", "  grad scales (max |g|)",
          scales, "\n",
          set.optimizer ? "  step    encoder " + fmt(w_step[kEncoder].error) + " (" + w_step[kEncoder].where +
                              ")  head " + fmt(w_step[kHead].error) + " (" + w_step[kHead].where + "), " +
                              std::to_string(stepped) + " tensors stepped"
                        : std::string("  step    - (no optimizer in this set)"));
}

void check_weights_load(const ParitySet& set) {
  const std::string dir = fixture_dir(set);
  if (dir.empty()) return;
  MultiTaskModel& m = b4(set.dtype);
  CHECK(m.tasks().size() == 27);
  const Fixture w = read_fixture(dir + "/weights.safetensors");
  CHECK(w.tensors.size() == 823);
  CHECK(w.tensors.size() == m.state_dict().size());
  // Strict: one missing or unexpected key throws.
  nn::LoadOptions opt;
  opt.allow_float_conversion = set.dtype != DType::F32;
  const nn::LoadReport r = nn::load_state_dict(m, nn::NamedTensors(w.tensors.begin(), w.tensors.end()), opt);
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  CHECK(r.loaded == 823);
  nn::NamedTensors short_one(w.tensors.begin(), w.tensors.end());
  short_one.pop_back();
  CHECK_THROWS_AS(nn::load_state_dict(m, short_one, opt), Error);
}

}  // namespace

TEST_CASE("parity: the reference weights load strictly into the B4 model with the 27 official tasks") {
  check_weights_load(kF32);
  check_weights_load(kF64);
}

TEST_CASE("parity: f32 segmentation step (cardiac_multi) matches PyTorch") { check_task(kF32, "cardiac_multi"); }
TEST_CASE("parity: f32 classification step (organ_cls) matches PyTorch") { check_task(kF32, "organ_cls"); }
TEST_CASE("parity: f32 regression step (IUGC) matches PyTorch") { check_task(kF32, "IUGC"); }
TEST_CASE("parity: f32 detection step (thyroid_nodule_det) matches PyTorch") { check_task(kF32, "thyroid_nodule_det"); }
TEST_CASE("parity: f64 segmentation step (cardiac_multi) matches PyTorch") { check_task(kF64, "cardiac_multi"); }
TEST_CASE("parity: f64 classification step (organ_cls) matches PyTorch") { check_task(kF64, "organ_cls"); }
TEST_CASE("parity: f64 regression step (IUGC) matches PyTorch") { check_task(kF64, "IUGC"); }
TEST_CASE("parity: f64 detection step (thyroid_nodule_det) matches PyTorch") { check_task(kF64, "thyroid_nodule_det"); }
