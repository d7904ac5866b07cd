// `sono export` checked by a real runtime: the exported files run in ONNX
// Runtime (CPU, the reference venv's onnxruntime from PyPI, through
// tests/export/run_onnx_runtime.py) and match Sono's own outputs, for one task
// of each kind, on random inputs and on phantom images; the docs/export.md
// snippet writes the same submission as `sono predict` (docs/export.md, "What
// the test checks").
//
// The model is EfficientNet-B0 at 64 x 64 with random weights and BatchNorm
// statistics / GroupNorm parameters far from the identity, so a wrong fold or
// a dropped normalisation shows as an O(1) error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/autograd.h"
#include "data/batch.h"
#include "data/image.h"
#include "data/phantom.h"
#include "export/onnx_export.h"
#include "layers/norm.h"
#include "ops/reduce.h"
#include "tasks/dataset.h"
#include "tasks/detection.h"
#include "tasks/task_kind.h"
#include "tests/support/check.h"
#include "tests/support/skip.h"
#include "tests/support/tolerances.h"
#include "tests/train/bad_input_util.h"
#include "train/model_io.h"
#include "train/predict.h"

using namespace sono;
using namespace sono::test;
using nlohmann::json;

namespace {

constexpr int64_t kSize = 64;
// Boxes and points: within 1e-4 of the image size, i.e. 1e-4 in normalised coordinates.
constexpr double kCoordinateTolerance = 1e-4;

// A phantom dataset (one task of each kind, two of segmentation), the model
// for its tasks, and that model's weights file with Sono's metadata.
struct Setup {
  TempDir dir{"sono_export_test"};
  fs::path data = dir.path / "val";
  fs::path weights = dir.path / "model.safetensors";
  data::Dataset ds;
  std::shared_ptr<model::MultiTaskModel> model;

  Setup() {
    data::PhantomOptions po;
    po.images_per_task = 3;
    po.min_size = 60;
    po.max_size = 100;
    po.seed = 11;
    data::write_phantom_dataset(data.string(), po);
    ds = tasks::read_dataset(data.string(), data::OnBadRow::Stop, data::Targets::Optional);
    model::MultiTaskModelConfig cfg = tasks::model_config();
    cfg.encoder = "efficientnet-b0";
    cfg.tasks = tasks::registry_for(ds, false);
    cfg.init_seed = 7;
    model = std::make_shared<model::MultiTaskModel>(cfg);
    randomize_normalisation(*model);
    auto meta = model_metadata(*model);
    meta["sono.image_size"] = std::to_string(kSize);
    nn::save_safetensors(*model, weights.string(), meta);
    model->eval();
  }

  static void randomize_normalisation(model::MultiTaskModel& m) {
    NoGradGuard ng;
    uint64_t seed = 1000;
    for (auto& [name, mod] : m.named_modules()) {
      if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(mod)) {
        const int64_t c = bn->num_features();
        bn->weight().copy_(rand_uniform({c}, 0.5, 1.5, seed++, DType::F32));
        bn->bias().copy_(rand_uniform({c}, -0.2, 0.2, seed++, DType::F32));
        bn->running_mean().copy_(rand_uniform({c}, -0.2, 0.2, seed++, DType::F32));
        bn->running_var().copy_(rand_uniform({c}, 0.5, 2.0, seed++, DType::F32));
      } else if (auto* gn = dynamic_cast<nn::GroupNorm*>(mod)) {
        const int64_t c = gn->weight().numel();
        gn->weight().copy_(rand_uniform({c}, 0.5, 1.5, seed++, DType::F32));
        gn->bias().copy_(rand_uniform({c}, -0.2, 0.2, seed++, DType::F32));
      }
    }
  }

  // Sono's forward of `task` on x (eval mode, no grad).
  Tensor forward(const Tensor& x, const std::string& task) const {
    NoGradGuard ng;
    return model->forward(x, task).contiguous();
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

// The reference venv's python when it has onnx and onnxruntime; otherwise ""
// after a skip (a failure under SONO_REQUIRE_FIXTURES=1), as the parity tests
// treat a missing fixture. The venv: $SONO_REF_VENV, else <repo>/.venv-ref.
std::string ort_python() {
  const char* env = std::getenv("SONO_REF_VENV");
  const std::string venv = env && *env ? env : std::string(SONO_SOURCE_DIR) + "/.venv-ref";
  const std::string python = venv + "/bin/python";
  const bool exists = fs::exists(python);
  bool imports = false;
  if (exists) imports = run_shell("'" + python + "' -c 'import onnx, onnxruntime'").rc == 0;
  if (!require_or_skip(exists && imports, !exists ? "no " + python + " (tools/setup_reference.sh makes it)"
                                                  : python + " cannot import onnx and onnxruntime "
                                                             "(tools/setup_reference.sh installs them)"))
    return "";
  return python;
}

std::string quoted(const fs::path& p) { return "'" + p.string() + "'"; }

// Exports with the `sono` program; REQUIREs success.
void sono_export(const std::string& args) {
  const Run r = run_shell("\"$SONO\" export --weights " + quoted(setup().weights) + " " + args);
  INFO(r.output);
  REQUIRE(r.rc == 0);
}

void write_f32(const fs::path& p, const Tensor& t) {
  const auto v = t.contiguous().to_vector<float>();
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  REQUIRE(f.good());
}

// ONNX Runtime's outputs of `model` for the input x [N, 3, S, S], by output name.
std::map<std::string, Tensor> run_ort(const std::string& python, const fs::path& model, const Tensor& x,
                                      const fs::path& work) {
  fs::create_directories(work);
  write_f32(work / "input.bin", x);
  const Run r = run_shell("'" + python + "' " + quoted(fs::path(SONO_SOURCE_DIR) / "tests/export/run_onnx_runtime.py") +
                          " " + quoted(model) + " " + quoted(work / "input.bin") + " " + std::to_string(x.size(0)) +
                          " " + std::to_string(x.size(2)) + " " + quoted(work / "out"));
  INFO(r.output);
  REQUIRE(r.rc == 0);
  std::ifstream jf(work / "out" / "outputs.json");
  const json j = json::parse(jf);
  std::map<std::string, Tensor> out;
  for (const auto& [name, shape_json] : j["outputs"].items()) {
    Shape shape = shape_json.get<std::vector<int64_t>>();
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    std::ifstream f(work / "out" / (name + ".bin"), std::ios::binary);
    f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
    REQUIRE(f.gcount() == std::streamsize(v.size() * sizeof(float)));
    out[name] = Tensor::from_vector(v, shape);
  }
  return out;
}

// max|a - b| / max|b|; NaN when either holds a non-finite value.
double relative_max_error(const std::vector<double>& a, const std::vector<double>& b) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return NAN;
    err = std::max(err, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  return err / scale;
}

// ONNX Runtime's output of `task` against Sono's: the tolerances of docs/export.md.
void check_output(const std::string& task, const Tensor& ort, const Tensor& sono_out) {
  CAPTURE(task);
  REQUIRE(ort.shape() == sono_out.shape());
  const auto a = values(ort), b = values(sono_out);
  const double rel = relative_max_error(a, b);
  CAPTURE(rel);
  CHECK(rel <= tol::kOnnxRuntime.rtol);
  const TaskType type = setup().model->tasks().at(task).type;
  if (type == TaskType::Segmentation || type == TaskType::Classification) {
    CHECK(values(argmax(ort, 1)) == values(argmax(sono_out, 1)));  // masks / classes
  } else if (type == TaskType::Regression) {
    for (size_t i = 0; i < a.size(); ++i) CHECK(std::abs(a[i] - b[i]) <= kCoordinateTolerance);
  } else {
    std::vector<std::array<float, 4>> box_a, box_b;
    tasks::best_cell_boxes(ort, box_a);
    tasks::best_cell_boxes(sono_out, box_b);
    for (size_t i = 0; i < box_a.size(); ++i)
      for (size_t c = 0; c < 4; ++c) CHECK(std::abs(box_a[i][c] - box_b[i][c]) <= kCoordinateTolerance);
  }
}

// The first `n` rows of `task` as the loader makes them for predict (images only).
data::Batch phantom_batch(const std::string& task, int64_t n) {
  const Setup& s = setup();
  std::vector<int64_t> rows;
  for (size_t i = 0; i < s.ds.samples.size() && int64_t(rows.size()) < n; ++i)
    if (s.ds.tasks[size_t(s.ds.samples[i].task)].id == task) rows.push_back(int64_t(i));
  auto plan = data::sequential_plan(s.ds.samples, rows, n);
  REQUIRE(plan.size() == 1);
  data::BatchOptions o;
  o.image_size = kSize;
  o.load_targets = false;
  return data::build_batch(s.ds, plan[0], 0, 0, o, nullptr);
}

// The code block between the snippet markers of docs/export.md.
std::string doc_snippet() {
  std::ifstream f(fs::path(SONO_SOURCE_DIR) / "docs/export.md");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string doc = ss.str();
  const std::string begin = "<!-- onnx-runtime-snippet:begin -->", end = "<!-- onnx-runtime-snippet:end -->";
  const size_t b = doc.find(begin), e = doc.find(end);
  REQUIRE(b != std::string::npos);
  REQUIRE(e != std::string::npos);
  std::string block = doc.substr(b + begin.size(), e - b - begin.size());
  const size_t code = block.find("```python\n"), close = block.rfind("```");
  REQUIRE(code != std::string::npos);
  REQUIRE(close > code);
  return block.substr(code + 10, close - code - 10);
}

std::map<std::string, json> records_by_key(const fs::path& file) {
  std::ifstream f(file);
  REQUIRE(f.good());
  std::map<std::string, json> out;
  for (const json& r : json::parse(f))
    out[r["task_id"].get<std::string>() + " " + r["image_path"].get<std::string>()] = r;
  return out;
}

void check_numbers(const json& a, const json& b, const char* field, double tolerance) {
  CAPTURE(field);
  const auto va = a.at(field).get<std::vector<double>>(), vb = b.at(field).get<std::vector<double>>();
  REQUIRE(va.size() == vb.size());
  for (size_t i = 0; i < va.size(); ++i) CHECK(std::abs(va[i] - vb[i]) <= tolerance);
}

}  // namespace

TEST_CASE("sono export writes one ONNX file per task, opset 17, BatchNorm folded, checked") {
  Setup& s = setup();
  sono_export("--out " + quoted(s.dir.path / "per_task"));
  for (const auto& t : s.model->tasks().tasks()) {
    CAPTURE(t.id);
    std::ifstream f(s.dir.path / "per_task" / (t.id + ".onnx"), std::ios::binary);
    REQUIRE(f.good());
    onnx::ModelProto m;
    REQUIRE(m.ParseFromIstream(&f));
    REQUIRE(m.opset_import_size() == 1);
    CHECK(m.opset_import(0).version() == 17);
    REQUIRE(m.graph().input_size() == 1);
    CHECK(m.graph().input(0).name() == "image");
    const auto& dims = m.graph().input(0).type().tensor_type().shape().dim();
    REQUIRE(dims.size() == 4);
    CHECK(dims[0].dim_value() == 1);  // the size stored with the weights, batch 1 without --dynamic-batch
    CHECK(dims[2].dim_value() == kSize);
    REQUIRE(m.graph().output_size() == 1);
    CHECK(m.graph().output(0).name() == t.id);
    std::map<std::string, std::string> meta;
    for (const auto& p : m.metadata_props()) meta[p.key()] = p.value();
    CHECK(meta["sono.task"] == t.id);
    CHECK(meta["sono.kind"] == tasks::task_kind(t.type).category());
    CHECK(meta["sono.image_size"] == std::to_string(kSize));
    int decoder_nodes = 0;
    for (const auto& n : m.graph().node()) {
      CHECK(n.op_type() != "BatchNormalization");
      decoder_nodes += n.name().rfind("fpn_decoder.", 0) == 0;
    }
    // Classification and regression read the last encoder feature: no decoder in their files.
    const bool uses_decoder = t.type == TaskType::Segmentation || t.type == TaskType::Detection;
    CHECK((decoder_nodes > 0) == uses_decoder);
  }
}

TEST_CASE("sono export names a bad task or size") {
  Setup& s = setup();
  Run r = run_shell("\"$SONO\" export --weights " + quoted(s.weights) + " --out " + quoted(s.dir.path / "bad") +
                    " --task no_such_task");
  CHECK(r.rc != 0);
  CHECK(r.output.find("--task 'no_such_task'") != std::string::npos);
  r = run_shell("\"$SONO\" export --weights " + quoted(s.weights) + " --out " + quoted(s.dir.path / "bad") +
                " --size 50");
  CHECK(r.rc != 0);
  CHECK(r.output.find("--size 50") != std::string::npos);
  CHECK(!fs::exists(s.dir.path / "bad" / "phantom_seg.onnx"));
}

TEST_CASE("ONNX Runtime matches Sono per task, batch 1, random inputs") {
  const std::string python = ort_python();
  if (python.empty()) return;
  Setup& s = setup();
  sono_export("--out " + quoted(s.dir.path / "per_task"));
  uint64_t seed = 1;
  for (const auto& t : s.model->tasks().tasks()) {
    const Tensor x = randn({1, 3, kSize, kSize}, seed++, DType::F32);
    auto out = run_ort(python, s.dir.path / "per_task" / (t.id + ".onnx"), x, s.dir.path / ("ort_" + t.id));
    REQUIRE(out.size() == 1);
    REQUIRE(out.count(t.id) == 1);
    check_output(t.id, out[t.id], s.forward(x, t.id));
  }
}

TEST_CASE("ONNX Runtime matches Sono, all heads in one file, dynamic batch, random and phantom inputs") {
  const std::string python = ort_python();
  if (python.empty()) return;
  Setup& s = setup();
  sono_export("--out " + quoted(s.dir.path / "all") + " --all-heads --dynamic-batch");
  const fs::path file = s.dir.path / "all" / onnx_export::kAllHeadsFile;
  const Tensor x = randn({3, 3, kSize, kSize}, 42, DType::F32);
  auto out = run_ort(python, file, x, s.dir.path / "ort_all_random");
  REQUIRE(out.size() == s.model->tasks().size());
  for (const auto& t : s.model->tasks().tasks()) check_output(t.id, out.at(t.id), s.forward(x, t.id));
  // Phantom images of each task through the loader, as predict feeds them.
  for (const auto& t : s.model->tasks().tasks()) {
    const data::Batch b = phantom_batch(t.id, 3);
    auto po = run_ort(python, file, b.images, s.dir.path / ("ort_all_" + t.id));
    check_output(t.id, po.at(t.id), s.forward(b.images, t.id));
  }
}

TEST_CASE("the docs/export.md snippet in ONNX Runtime writes what sono predict writes") {
  const std::string python = ort_python();
  if (python.empty()) return;
  Setup& s = setup();
  const std::string snippet = doc_snippet();
  CHECK(snippet.find("onnxruntime") != std::string::npos);
  write_text(s.dir.path / "run_task.py", snippet);
  sono_export("--out " + quoted(s.dir.path / "per_task"));
  const fs::path onnx_pred = s.dir.path / "pred_onnx", sono_pred = s.dir.path / "pred_sono";
  for (const auto& t : s.model->tasks().tasks()) {
    const Run r =
        run_shell("OMP_NUM_THREADS=1 '" + python + "' " + quoted(s.dir.path / "run_task.py") + " " +
                  quoted(s.dir.path / "per_task" / (t.id + ".onnx")) + " " + quoted(s.data) + " " + quoted(onnx_pred));
    INFO(r.output);
    REQUIRE(r.rc == 0);
  }
  InferenceOptions o;
  o.image_size = kSize;
  o.batch_size = 2;
  o.num_workers = 0;
  predict(*s.model, s.ds, sono_pred.string(), o);

  int64_t masks = 0;
  for (const auto& sample : s.ds.samples) {
    if (sample.type != TaskType::Segmentation) continue;
    const std::string rel = tasks::submission_mask_path(
        fs::path(sample.mask_path).lexically_relative((s.data / "csv_files").lexically_normal()).generic_string());
    CAPTURE(rel);
    const data::Image a = data::read_image(onnx_pred / rel), b = data::read_image(sono_pred / rel);
    CHECK(a.height == b.height);
    CHECK(a.width == b.width);
    CHECK(a.pixels == b.pixels);
    ++masks;
  }
  CHECK(masks == 6);
  for (const char* file :
       {"classification_predictions.json", "detection_predictions.json", "regression_predictions.json"}) {
    CAPTURE(file);
    const auto a = records_by_key(onnx_pred / file), b = records_by_key(sono_pred / file);
    REQUIRE(a.size() == b.size());
    CHECK(a.size() == 3);
    for (const auto& [key, rb] : b) {
      CAPTURE(key);
      REQUIRE(a.count(key) == 1);
      const json& ra = a.at(key);
      if (rb.contains("predicted_class")) {
        CHECK(ra["predicted_class"] == rb["predicted_class"]);
        check_numbers(ra, rb, "predicted_probs", tol::kOnnxRuntime.rtol);
      } else if (rb.contains("bbox_normalized")) {
        check_numbers(ra, rb, "bbox_normalized", kCoordinateTolerance);
        // pixels: within 1e-4 of the image's width / height (the largest phantom side is 100)
        check_numbers(ra, rb, "bbox_pixels", kCoordinateTolerance * 100);
      } else {
        check_numbers(ra, rb, "predicted_points_normalized", kCoordinateTolerance);
        check_numbers(ra, rb, "predicted_points_pixels", kCoordinateTolerance * 100);
      }
    }
  }
}
