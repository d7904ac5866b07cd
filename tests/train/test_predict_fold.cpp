// predict() runs a copy of the model with every BatchNorm folded into its
// convolution (model::folded_inference_copy) and records no autograd node:
// its submission files equal those of the unfolded eval-mode model (the
// --no-fold-bn path) within kFoldedModelF32, for every task kind.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/autograd.h"
#include "data/image.h"
#include "data/phantom.h"
#include "tasks/dataset.h"
#include "tests/support/random_batchnorm.h"
#include "tests/support/tolerances.h"
#include "train/predict.h"
#include "train_test_util.h"

using namespace sono;
using namespace sono::test;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_json(const fs::path& p) {
  std::ifstream f(p);
  REQUIRE_MESSAGE(f.good(), p.string());
  return json::parse(f);
}

// Same structure, strings and integers; floats within tol * (1 + |b|) (the
// records' probabilities, normalized coordinates and pixels).
void check_close(const json& a, const json& b, double tol, const std::string& where) {
  CAPTURE(where);
  REQUIRE(a.type() == b.type());
  if (a.is_number_float()) {
    const double x = a.get<double>(), y = b.get<double>();
    CHECK_MESSAGE(std::abs(x - y) <= tol * (1 + std::abs(y)), x, " vs ", y);
  } else if (a.is_array()) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) check_close(a[i], b[i], tol, where + "[" + std::to_string(i) + "]");
  } else if (a.is_object()) {
    REQUIRE(a.size() == b.size());
    for (auto it = a.begin(); it != a.end(); ++it) {
      REQUIRE_MESSAGE(b.contains(it.key()), it.key());
      check_close(it.value(), b[it.key()], tol, where + "." + it.key());
    }
  } else {
    CHECK(a == b);
  }
}

}  // namespace

TEST_CASE("predict folds BatchNorm: the submission files equal the unfolded model's, no autograd node recorded") {
  const fs::path root = scratch_dir("sono_test_predict_fold_", "files");
  auto rows = data::write_phantom_dataset((root / "data").string(), small_phantom_options(3, 96, 31));
  data::Dataset ds = tasks::read_dataset((root / "data").string());
  model::MultiTaskModelConfig cfg = tasks::model_config();
  cfg.encoder = "efficientnet-b0";
  cfg.tasks = tasks::registry_for(ds, false);
  cfg.init_seed = 4;
  model::MultiTaskModel m(cfg);
  randomize_batchnorms(m, 500);
  InferenceOptions po;
  po.image_size = 64;
  po.batch_size = 4;
  po.num_workers = 1;

  const uint64_t nodes = Node::created();
  predict(m, ds, (root / "folded").string(), po);
  CHECK(Node::created() == nodes);
  predict(m, ds, (root / "unfolded").string(), po, /*fold_batchnorm=*/false);
  CHECK(Node::created() == nodes);
  CHECK(m.is_training());  // the caller's model keeps its mode
  for (const auto& [name, mod] : m.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(mod)) CHECK_FALSE(bn->folded());

  int kinds = 0;
  for (const char* f :
       {"classification_predictions.json", "detection_predictions.json", "regression_predictions.json"}) {
    const json a = read_json(root / "folded" / f), b = read_json(root / "unfolded" / f);
    CHECK(a.size() >= 3);
    check_close(a, b, tol::kFoldedModelF32.rtol, f);
    ++kinds;
  }
  // Masks: the argmax of logits that agree to kFoldedModelF32 can only flip
  // where two classes tie to that precision.
  int64_t masks = 0, pixels = 0, differing = 0;
  for (const auto& r : rows) {
    if (r.type != TaskType::Segmentation) continue;
    const data::Image a = data::read_mask((root / "folded" / submission_mask_path(r.mask_path)).string(), 256);
    const data::Image b = data::read_mask((root / "unfolded" / submission_mask_path(r.mask_path)).string(), 256);
    REQUIRE(a.pixels.size() == b.pixels.size());
    for (size_t i = 0; i < a.pixels.size(); ++i) differing += a.pixels[i] != b.pixels[i] ? 1 : 0;
    pixels += int64_t(a.pixels.size());
    ++masks;
  }
  CHECK(kinds == 3);
  CHECK(masks >= 3);
  MESSAGE(differing, " of ", pixels, " mask pixels differ");
  CHECK(differing * 10000 <= pixels);
  fs::remove_all(root);
}
