#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "data/image.h"
#include "data/phantom.h"
#include "tasks/dataset.h"
#include "train/evaluate.h"
#include "train/model_io.h"
#include "train/predict.h"
#include "train/trainer.h"

using namespace sono;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
model::TaskRegistry lm_tasks_for(const data::Dataset& ds) { return tasks::registry_for(ds, false); }

std::vector<data::PhantomRow> make_split(const fs::path& root, int64_t n, uint64_t seed) {
  data::PhantomOptions o;
  o.images_per_task = n;
  o.min_size = 80;
  o.max_size = 140;
  o.seed = seed;
  return data::write_phantom_dataset(root.string(), o);
}
}  // namespace

// The end-to-end check: phantom -> short training (small encoder,
// small images) -> predictions in the submission layout -> official metrics.
// The loss must fall and every metric must beat a trivial predictor.
TEST_CASE("phantom, train, predict and evaluate: the loss falls and the metrics beat chance") {
  fs::path root = fs::temp_directory_path() / ("sono_e2e_" + std::to_string(::getpid()));
  fs::remove_all(root);
  make_split(root / "train", 24, 3);
  auto val_rows = make_split(root / "val", 8, 4);

  TrainOptions o;
  o.data_dir = (root / "train").string();
  o.out_dir = (root / "run").string();
  o.encoder = "efficientnet-b0";
  o.image_size = 64;
  o.batch_size = 8;
  o.epochs = 30;
  o.seed = std::getenv("SONO_E2E_SEED") ? std::stoull(std::getenv("SONO_E2E_SEED")) : 1;
  o.num_workers = 1;
  o.progress = false;
  o.bn_calibration_batches = 10;
  // The encoder starts from random weights here (the official 1e-4 assumes
  // ImageNet weights), so it gets the heads' learning rate.
  o.lr_encoder = 1e-3;
  TrainSummary s = train_model(o);
  CHECK(s.epochs_completed == o.epochs);

  // Loss per task: mean over the first epoch vs the last epoch.
  std::map<std::string, double> first, last;
  std::ifstream log(root / "run" / "log.jsonl");
  for (std::string line; std::getline(log, line);) {
    json j = json::parse(line);
    if (j["type"] != "epoch") continue;
    for (auto& [task, v] : j["train_loss"].items()) {
      if (!first.count(task)) first[task] = v.get<double>();
      last[task] = v.get<double>();
    }
  }
  REQUIRE(first.size() == 5);
  for (auto& [task, l0] : first) CHECK_MESSAGE(last[task] < l0, task, ": loss ", l0, " -> ", last[task]);
  CHECK(fs::exists(root / "run" / "curves.png"));

  data::Dataset val = tasks::read_dataset((root / "val").string());
  InferenceOptions po;
  po.image_size = 64;
  po.progress = false;
  po.num_workers = 1;
  // The untrained network (same seed, same init) is the reference "chance" predictor.
  {
    model::MultiTaskModelConfig cfg = tasks::model_config();
    cfg.encoder = o.encoder;
    cfg.tasks = lm_tasks_for(val);
    cfg.init_seed = o.seed;
    model::MultiTaskModel untrained(cfg);
    predict(untrained, val, (root / "pred0").string(), po);
  }
  EvaluationResult ev0 = evaluate_predictions((root / "val").string(), (root / "pred0").string());
  LoadedModel lm = load_model_for_dataset((root / "run" / "best.safetensors").string(), val);
  predict(*lm.model, val, (root / "pred").string(), po);

  // Submission layout: a mask PNG per segmentation row at its original size.
  for (const auto& r : val_rows) {
    if (r.type != TaskType::Segmentation) continue;
    fs::path p = root / "pred" / submission_mask_path(r.mask_path);
    REQUIRE_MESSAGE(fs::exists(p), p.string());
    data::Image m = data::read_mask(p.string(), r.num_classes);
    CHECK(m.height == r.height);
    CHECK(m.width == r.width);
  }

  EvaluationResult ev = evaluate_predictions((root / "val").string(), (root / "pred").string());
  for (auto& [task, n] : ev.missing) CHECK_MESSAGE(n == 0, task);
  MESSAGE("validation, best.safetensors (epoch ", s.best_epoch, "): ", ev.results.dump());

  // What the run learned, judged where it is stable. best.safetensors is the
  // epoch with the highest validation score of the trainer's own split (6
  // images a task), whose classification accuracy moves in steps of 1/6: an
  // early epoch with segmentation not yet learned can stay the best. Measured
  // (Winograd on: seeds 1-5 at 2 threads, 1-3 at 1 thread, seed 1 at 3
  // threads; off: seed 5 at 2 threads; 11 runs), the validation DSC of
  // best.safetensors was 0.0-0.80 (seed 1 at 1 thread: best epoch 3, DSC 0.0;
  // off, seed 5: epoch 2, 0.115), that of last.safetensors 0.73-0.81. The
  // validation DSC is judged with the last weights (bound 0.5, untrained ~0);
  // the other kinds, whose 8 validation images swing (accuracy 0.125-0.75,
  // IoU 0.04-0.46, MRE 33-133 px over 8 earlier runs), on the training split
  // against the untrained network (same seed, same init), with the last
  // weights. Measured there over the 11 runs: accuracy 0.79-0.96 (untrained
  // 0.29-0.54), DSC 0.81-0.85, IoU 0.12-0.65, MRE 27-55 px (untrained 76-83,
  // ratio <= 0.66). Seed 1 gave the same numbers at 2 and 3 threads, other
  // ones at 1. SONO_E2E_SEED picks another seed for such measurements.
  data::Dataset train = tasks::read_dataset((root / "train").string());
  LoadedModel last_weights = load_model_for_dataset((root / "run" / "last.safetensors").string(), train);
  predict(*last_weights.model, val, (root / "pred_last").string(), po);
  predict(*last_weights.model, train, (root / "fit").string(), po);
  {
    model::MultiTaskModelConfig cfg = tasks::model_config();
    cfg.encoder = o.encoder;
    cfg.tasks = lm_tasks_for(train);
    cfg.init_seed = o.seed;
    model::MultiTaskModel untrained(cfg);
    predict(untrained, train, (root / "fit0").string(), po);
  }
  const json val_last = evaluate_predictions((root / "val").string(), (root / "pred_last").string()).results;
  const json fit = evaluate_predictions((root / "train").string(), (root / "fit").string()).results;
  const json fit0 = evaluate_predictions((root / "train").string(), (root / "fit0").string()).results;
  MESSAGE("validation, last.safetensors: ", val_last.dump());
  MESSAGE("validation, untrained: ", ev0.results.dump());
  MESSAGE("training split, trained: ", fit.dump());
  MESSAGE("training split, untrained: ", fit0.dump());
  const double val_dsc = val_last["segmentation"]["phantom_seg"]["DSC"].get<double>();
  const double acc = fit["classification"]["phantom_cls"]["Accuracy"].get<double>();
  const double dsc = fit["segmentation"]["phantom_seg"]["DSC"].get<double>();
  const double iou = fit["detection"]["phantom_det"]["IoU"].get<double>();
  const double mre = fit["regression"]["phantom_reg"]["MRE"].get<double>();
  const double mre0 = fit0["regression"]["phantom_reg"]["MRE"].get<double>();
  CHECK(val_dsc > 0.5);  // the untrained network: ~0
  CHECK(acc > 0.45);     // 3 balanced classes: chance 1/3
  CHECK(dsc > 0.4);
  CHECK(iou > 0.1);
  CHECK(mre < 0.75 * mre0);
  // SONO_E2E_KEEP=1 keeps the run (log.jsonl, checkpoints) for such measurements.
  if (std::getenv("SONO_E2E_KEEP") == nullptr) fs::remove_all(root);
}
