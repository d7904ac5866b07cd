// Whole-model parity with the PyTorch reference (the official baseline built
// with SMP 0.5.0; tools/reference/dump_parity.py): the B4 MultiTaskModel with
// the official 27 tasks, loaded with the reference's random weights, runs one
// training step per task type and is compared tensor by tensor with the dump:
// output, loss, encoder features and decoder output (segmentation), the
// detection centre cells, every buffer after the train-mode forward, every
// parameter gradient and the AdamW step.
//
// Fixtures: $SONO_REF_FIXTURES/b4 (tools/reference/make_fixtures.sh; tools/test.sh
// sets the variable). Without them every case prints why and passes.
//
// Norms (see tol::kParityOutput / kParityGrad / kParityStep):
//   activations, loss, buffers: max|a - b| / max|b| over the tensor;
//   gradients: max|a - b| / max|b| over the tensor's GROUP (encoder, decoder,
//     head): some gradients are exactly 0 in theory (a _bn2.bias followed by a
//     train-mode BatchNorm) and hold only rounding noise on both sides, so no
//     per-tensor scale exists for them;
//   AdamW step: max|p_sono - p_torch| / max|p_torch - p_before| per tensor, i.e.
//     relative to the update itself (~ lr), fed with the DUMPED gradients:
//     Adam's first step turns noise gradients into +-lr steps of random sign,
//     so only identical gradients make the update comparable.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "core/autograd.h"
#include "data/batch.h"
#include "layers/safetensors.h"
#include "layers/state_dict.h"
#include "model/multitask_model.h"
#include "optim/adamw.h"
#include "train/task_loss.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::model;
using namespace sono::test;

namespace {

// The official recipe (MODEL_SPEC 6.1): encoder 1e-4, one group per head at
// 1e-3, the decoder in no group, weight decay 0.01.
constexpr double kLrEncoder = 1e-4;
constexpr double kLrHeads = 1e-3;
constexpr double kWeightDecay = 0.01;

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

// "" when the fixtures are absent (the reason is printed once per case).
std::string fixture_dir() {
  const char* root = std::getenv("SONO_REF_FIXTURES");
  if (root == nullptr || *root == '\0') {
    MESSAGE("skipped: SONO_REF_FIXTURES is not set (tools/reference/make_fixtures.sh DIR, then export it)");
    return "";
  }
  const std::string dir = std::string(root) + "/b4";
  if (!std::filesystem::exists(dir + "/weights.safetensors")) {
    MESSAGE("skipped: no " << dir << "/weights.safetensors (run tools/reference/make_fixtures.sh " << root << ")");
    return "";
  }
  return dir;
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
  MultiTaskModelConfig c;
  c.encoder = "efficientnet-b4";
  c.decoder.dropout = 0.0;
  c.classification_dropout = 0.0;
  c.drop_connect_rate = 0.0;
  return c;
}

MultiTaskModel& b4() {
  static MultiTaskModel model(parity_config());
  return model;
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

enum Group { kEncoder, kDecoder, kHead, kGroups };
const char* const kGroupNames[kGroups] = {"encoder", "decoder", "head"};

Group group_of(const std::string& name) {
  if (starts_with(name, "encoder.")) return kEncoder;
  if (starts_with(name, "fpn_decoder.")) return kDecoder;
  return kHead;
}

// max|a - b| and max|b| (f32 data, accumulated in double). NaN/Inf in either
// makes max_diff infinite so no comparison can pass.
struct Deviation {
  double max_diff = 0, max_ref = 0;
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

// Compares one activation-like tensor (max-norm relative error) and records it.
void check_relative(const Tensor& actual, const Tensor& expected, double tol, const std::string& what,
                    Worst& worst) {
  const double e = deviation(actual, expected, what).relative();
  worst.add(e, what);
  if (e > tol && std::getenv("PARITY_DEBUG")) {  // TEMP
    auto a = values(actual), b = values(expected);
    std::printf("DBG %s:", what.c_str());
    for (int i = 0; i < 6 && i < int(a.size()); ++i) std::printf(" (%g %g)", a[i], b[i]);
    std::printf("\n");
  }
  CHECK_MESSAGE(e <= tol, what, ": relative error ", e, " > ", tol);
}

// Integer tensors (num_batches_tracked, centre cells) must match exactly.
void check_equal_ints(const Tensor& actual, const Tensor& expected, const std::string& what) {
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), what, ": ", actual.describe(), " vs ", expected.describe());
  CHECK_MESSAGE(actual.to(DType::I64).contiguous().to_vector<int64_t>() ==
                    expected.to(DType::I64).contiguous().to_vector<int64_t>(),
                what, " differs");
}

// The training loss exactly as the trainer computes it (sono::task_loss).
Tensor parity_loss(TaskType type, const Tensor& output, const Tensor& target) {
  data::Batch b;
  switch (type) {
    case TaskType::Segmentation: b.type = data::TaskType::Segmentation; b.masks = target; break;
    case TaskType::Classification: b.type = data::TaskType::Classification; b.labels = target; break;
    case TaskType::Regression: b.type = data::TaskType::Regression; b.points = target; break;
    case TaskType::Detection: b.type = data::TaskType::Detection; b.boxes = target; break;
  }
  return task_loss(b, output);
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
  for (const auto& kv : m.heads().items()) groups.push_back(group("heads." + kv.first, kv.second->parameters(), kLrHeads));
  return groups;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

// One training step of `task` from the reference weights, compared with
// <task>.safetensors. Prints the task's table of maximum errors.
void check_task(const std::string& task) {
  const std::string dir = fixture_dir();
  if (dir.empty()) return;
  const Fixture w = read_fixture(dir + "/weights.safetensors");
  const Fixture f = read_fixture(dir + "/" + task + ".safetensors");
  REQUIRE(f.metadata.at("task") == task);
  REQUIRE(f.metadata.at("encoder") == "efficientnet-b4");
  // The fixture must describe the recipe this test replays.
  CHECK(std::stod(f.metadata.at("lr_encoder")) == kLrEncoder);
  CHECK(std::stod(f.metadata.at("lr_heads")) == kLrHeads);
  CHECK(std::stod(f.metadata.at("weight_decay")) == kWeightDecay);
  CHECK(starts_with(f.metadata.at("lr_decoder"), "none"));

  MultiTaskModel& m = b4();
  const TaskSpec& spec = m.tasks().at(task);
  CHECK(task_type_name(spec.type) == f.metadata.at("task_type"));
  nn::NamedTensors weights(w.tensors.begin(), w.tensors.end());
  const nn::LoadReport report = nn::load_state_dict(m, weights, {});  // strict
  REQUIRE(report.loaded == int64_t(m.state_dict().size()));
  m.zero_grad();
  m.train();

  // ---- forward ------------------------------------------------------------
  Worst w_out, w_loss, w_feat, w_dec, w_buf;
  const Tensor& x = f.at("x");
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
      check_relative(features[i], f.at(key), tol::kParityOutput.rtol, key, w_feat);
    }
    Tensor decoded = m.decoder().forward(features);
    check_relative(decoded, f.at("decoder"), tol::kParityOutput.rtol, "decoder", w_dec);
    out = m.head(task).forward(decoded);
  } else {
    out = m.forward(x, task);
  }
  CHECK_MESSAGE(m.random().generator.offset == draws, "a random layer drew numbers with p = 0");
  check_relative(out, f.at("output"), tol::kParityOutput.rtol, "output", w_out);

  const Tensor& target = f.at("target");
  Tensor loss = parity_loss(spec.type, out, target);
  check_relative(loss, f.at("loss"), tol::kParityOutput.rtol, "loss", w_loss);
  if (spec.type == TaskType::Detection) {
    std::vector<int64_t> rows, cols;
    centre_cells(target, out.size(2), out.size(3), rows, cols);
    std::vector<int64_t> cells;
    for (size_t i = 0; i < rows.size(); ++i) cells.insert(cells.end(), {rows[i], cols[i]});
    check_equal_ints(Tensor::from_vector(cells, {int64_t(rows.size()), 2}), f.at("det.cell"), "det.cell");
    // output[b, :, row, col] read directly (the loss gathers it with gather_cells).
    const std::vector<double> o = values(out);
    const int64_t c = out.size(1), h = out.size(2), wd = out.size(3);
    std::vector<double> pred;
    for (int64_t b = 0; b < int64_t(rows.size()); ++b)
      for (int64_t k = 0; k < c; ++k) pred.push_back(o[size_t(((b * c + k) * h + rows[size_t(b)]) * wd + cols[size_t(b)])]);
    check_relative(Tensor::from_vector(pred, {int64_t(rows.size()), c}), f.at("det.pred"), tol::kParityOutput.rtol,
                   "det.pred", w_out);
  }

  // Every buffer after the train-mode forward: running statistics of the BNs
  // that ran, untouched ones elsewhere (e.g. the encoder's _bn1).
  for (const auto& [name, buf] : m.named_buffers()) {
    const Tensor& ref = f.at("buffer." + name);
    if (buf.dtype() == DType::I64) check_equal_ints(buf, ref, name);
    else check_relative(buf, ref, tol::kParityOutput.rtol, name, w_buf);
  }

  // ---- backward -------------------------------------------------------------
  loss.backward();
  const nn::NamedTensors params = m.named_parameters();
  std::set<std::string> with_grad, expected_grad;
  for (const auto& [name, p] : params)
    if (p.grad().defined()) with_grad.insert(name);
  for (const auto& kv : f.tensors)
    if (starts_with(kv.first, "grad.")) expected_grad.insert(kv.first.substr(5));
  CHECK(with_grad == expected_grad);
  for (const auto& name : with_grad)
    CHECK_MESSAGE(expected_grad.count(name), name, " has a gradient in Sono but not in the reference");
  for (const auto& name : expected_grad)
    CHECK_MESSAGE(with_grad.count(name), name, " has a gradient in the reference but not in Sono");

  // Gradients: error relative to the largest reference gradient of the group.
  double group_scale[kGroups] = {0, 0, 0};
  std::vector<std::pair<std::string, Deviation>> grad_dev;
  for (const auto& [name, p] : params) {
    if (!p.grad().defined() || !expected_grad.count(name)) continue;
    const Deviation d = deviation(p.grad(), f.at("grad." + name), "grad." + name);
    grad_dev.emplace_back(name, d);
    group_scale[group_of(name)] = std::max(group_scale[group_of(name)], d.max_ref);
  }
  Worst w_grad[kGroups];
  for (const auto& [name, d] : grad_dev) {
    const double e = d.max_diff / group_scale[group_of(name)];
    if (std::getenv("PARITY_DEBUG")) std::printf("GRD %-60s diff %.3e ref %.3e rel %.3e grp %.3e\n", name.c_str(), d.max_diff, d.max_ref, d.relative(), e);  // TEMP
    w_grad[group_of(name)].add(e, name);
    CHECK_MESSAGE(e <= tol::kParityGrad.rtol, "grad.", name, ": error ", d.max_diff, " is ", e, " of the ",
                  kGroupNames[group_of(name)], " gradient scale ", group_scale[group_of(name)]);
  }

  if (const char* dump = std::getenv("PARITY_DUMP")) {  // TEMP
    nn::NamedTensors g;
    g.emplace_back("output", out.detach().contiguous());
    for (const auto& [name, p] : params) if (p.grad().defined()) g.emplace_back("grad." + name, p.grad().detach().contiguous());
    nn::write_safetensors(std::string(dump) + "/" + task + ".sono.safetensors", g);
  }
  // ---- AdamW step from the reference's gradients ---------------------------------
  for (const auto& [name, p] : params) {
    if (expected_grad.count(name)) p.set_grad(f.at("grad." + name));
    else p.reset_grad();
  }
  AdamW opt(official_groups(m));
  opt.step();
  Worst w_step[kGroups];
  int64_t stepped = 0;
  for (const auto& [name, p] : params) {
    const Tensor& before = w.at(name);
    if (f.has("step." + name)) {
      ++stepped;
      const Tensor& ref = f.at("step." + name);
      const double update = deviation(ref, before, "update of " + name).max_diff;
      const double e = deviation(p, ref, "step." + name).max_diff / update;
      w_step[group_of(name)].add(e, name);
      CHECK_MESSAGE(e <= tol::kParityStep.rtol, "step.", name, ": error is ", e, " of the update ", update);
    } else {
      // No gradient, or not in the optimizer (the decoder): bitwise unchanged.
      CHECK_MESSAGE(deviation(p, before, name).max_diff == 0.0, name, " changed without a reference step");
    }
  }
  CHECK(stepped > 0);

  MESSAGE("parity ", task, " (max errors; worst tensor)\n"
          "  output   ", fmt(w_out.error), "  ", w_out.where, "\n",
          "  loss     ", fmt(w_loss.error), "  (Sono ", loss.item(), ", torch ", f.at("loss").item(), ")\n",
          "  features ", fmt(w_feat.error), "  ", w_feat.where, "\n",
          "  decoder  ", fmt(w_dec.error), "  ", w_dec.where, "\n",
          "  buffers  ", fmt(w_buf.error), "  ", w_buf.where, "\n",
          "  grad     encoder ", fmt(w_grad[kEncoder].error), " ", w_grad[kEncoder].where, " | decoder ",
          fmt(w_grad[kDecoder].error), " ", w_grad[kDecoder].where, " | head ", fmt(w_grad[kHead].error), " ",
          w_grad[kHead].where, "\n",
          "  grad scale (max |g|) encoder ", fmt(group_scale[kEncoder]), " decoder ", fmt(group_scale[kDecoder]),
          " head ", fmt(group_scale[kHead]), "\n",
          "  step     encoder ", fmt(w_step[kEncoder].error), " ", w_step[kEncoder].where, " | head ",
          fmt(w_step[kHead].error), " ", w_step[kHead].where, " (", stepped, " tensors stepped)");
}

}  // namespace

TEST_CASE("parity: the reference weights load strictly into the B4 model with the 27 official tasks") {
  const std::string dir = fixture_dir();
  if (dir.empty()) return;
  MultiTaskModel& m = b4();
  CHECK(m.tasks().size() == 27);
  const nn::LoadReport r = nn::load_safetensors(m, dir + "/weights.safetensors");  // strict by default
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  CHECK(r.loaded == 823);
  CHECK(r.loaded == int64_t(m.state_dict().size()));
}

TEST_CASE("parity: segmentation step (cardiac_multi) matches PyTorch") { check_task("cardiac_multi"); }
TEST_CASE("parity: classification step (organ_cls) matches PyTorch") { check_task("organ_cls"); }
TEST_CASE("parity: regression step (IUGC) matches PyTorch") { check_task("IUGC"); }
TEST_CASE("parity: detection step (thyroid_nodule_det) matches PyTorch") { check_task("thyroid_nodule_det"); }
