#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/phantom.h"
#include "io/safetensors.h"
#include "tasks/dataset.h"
#include "tests/support/check.h"
#include "tests/train/train_test_util.h"
#include "train/evaluate.h"
#include "train/model_io.h"
#include "train/predict.h"
#include "train/trainer.h"

#include <map>

using namespace sono;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) { return test::scratch_dir("sono_test_trainer_", name); }

std::string phantom(const fs::path& root, int64_t per_task, uint64_t seed) {
  data::PhantomOptions o = test::small_phantom_options(per_task, 112, seed);
  o.det_rows_without_box = 2;
  data::write_phantom_dataset(root.string(), o);
  return root.string();
}

TrainOptions small_options(const std::string& data, const fs::path& out) {
  return test::small_train_options(data, out, 3);
}

}  // namespace

TEST_CASE("training stopped and resumed equals training straight through, across an epoch boundary") {
  fs::path root = temp_dir("resume");
  std::string data = phantom(root / "data", 6, 11);
  // 32 rows -> 24 train rows -> 6 steps per epoch: stop at 4, resume to 9 (epoch 2, after a validation).
  TrainOptions straight = small_options(data, root / "straight");
  straight.max_steps = 9;
  TrainSummary a = train_model(straight);
  TrainOptions first = small_options(data, root / "resumed");
  first.max_steps = 4;
  train_model(first);
  TrainOptions second = first;
  second.resume = true;
  second.max_steps = 9;
  TrainSummary b = train_model(second);
  CHECK(a.steps == 9);
  CHECK(b.steps == 9);
  auto fa = nn::read_safetensors((root / "straight" / "last.safetensors").string());
  auto fb = nn::read_safetensors((root / "resumed" / "last.safetensors").string());
  REQUIRE(fa.tensors.size() == fb.tensors.size());
  int64_t compared = 0;
  for (size_t i = 0; i < fa.tensors.size(); ++i) {
    REQUIRE(fa.tensors[i].first == fb.tensors[i].first);
    auto r = test::all_close(fb.tensors[i].second, fa.tensors[i].second, test::Tolerance{0, 0});
    CHECK_MESSAGE(r.ok, fa.tensors[i].first, ": ", r.report);
    ++compared;
  }
  CHECK(compared > 300);  // model parameters, buffers and optimizer moments
  CHECK(fa.metadata.at("sono.trainer_state") == fb.metadata.at("sono.trainer_state"));
  fs::remove_all(root);
}

TEST_CASE("a bad row stops training with its file and line, or is skipped and counted") {
  fs::path root = temp_dir("badrow");
  std::string data = phantom(root / "data", 6, 12);
  {
    std::ofstream f(fs::path(data) / "csv_files" / "phantom_cls.csv", std::ios::app);
    f << "../images/missing/none.png,1,phantom_cls,classification,3\n";
  }
  TrainOptions o = small_options(data, root / "out");
  o.max_steps = 1;
  CHECK_THROWS_WITH_AS(train_model(o), doctest::Contains("phantom_cls.csv"), Error);
  o.skip_bad_rows = true;
  TrainSummary s = train_model(o);
  CHECK(s.skipped_rows == 1);
  std::ifstream log(root / "out" / "log.jsonl");
  std::string first;
  std::getline(log, first);
  auto j = nlohmann::json::parse(first);
  REQUIRE(j["skipped_rows"].size() == 1);
  CHECK(j["skipped_rows"][0]["file"].get<std::string>().find("phantom_cls.csv") != std::string::npos);
  fs::remove_all(root);
}

TEST_CASE("predict needs no ground truth: test CSVs with only image_path, task and mask_path") {
  fs::path root = temp_dir("predict_no_targets");
  auto rows = data::write_phantom_dataset((root / "full").string(), data::PhantomOptions{3, 64, 96, 21, 0});
  // The challenge's test CSVs: no labels, boxes or points, and no mask files.
  fs::create_directories(root / "test" / "csv_files");
  fs::create_directory_symlink(fs::absolute(root / "full" / "images"), root / "test" / "images");
  std::map<std::string, std::ofstream> csvs;
  for (const auto& r : rows) {
    auto& f = csvs[r.task_id];
    if (!f.is_open()) {
      f.open(root / "test" / "csv_files" / (r.task_id + ".csv"));
      f << "image_path,task_id,task_name,num_classes,mask_path\n";
    }
    f << r.image_path << "," << r.task_id << "," << task_type_name(r.type) << "," << r.num_classes << "," << r.mask_path
      << "\n";
  }
  for (auto& [id, f] : csvs) f.close();
  data::Dataset ds = tasks::read_dataset((root / "test").string(), data::OnBadRow::Stop, data::Targets::Optional);
  CHECK(ds.samples.size() == rows.size());
  CHECK_THROWS_WITH_AS(tasks::read_dataset((root / "test").string()), doctest::Contains("missing column"), Error);
  model::MultiTaskModelConfig cfg = tasks::model_config();
  cfg.encoder = "efficientnet-b0";
  cfg.tasks = tasks::registry_for(ds, false);
  model::MultiTaskModel m(cfg);
  InferenceOptions po;
  po.image_size = 64;
  po.progress = false;
  po.num_workers = 1;
  PredictSummary s = predict(m, ds, (root / "pred").string(), po);
  CHECK(s.images == int64_t(rows.size()));
  for (const auto& r : rows)
    if (r.type == TaskType::Segmentation)
      CHECK_MESSAGE(fs::exists(root / "pred" / submission_mask_path(r.mask_path)), r.mask_path);
  for (const char* f : {"classification_predictions.json", "detection_predictions.json", "regression_predictions.json"})
    CHECK(fs::exists(root / "pred" / f));
  fs::remove_all(root);
}

namespace {

std::vector<nlohmann::json> read_log(const fs::path& path) {
  std::vector<nlohmann::json> records;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) records.push_back(nlohmann::json::parse(line));
  return records;
}

nlohmann::json read_summary(const fs::path& out) {
  std::ifstream f(out / "summary.json");
  REQUIRE(f.good());
  return nlohmann::json::parse(f);
}

}  // namespace

TEST_CASE("the --max-steps exit writes summary.json, curves.png and the timing, as the normal end does") {
  fs::path root = temp_dir("max_steps");
  std::string data = phantom(root / "data", 6, 13);
  TrainOptions o = small_options(data, root / "out");
  o.max_steps = 2;  // inside the first epoch: no validation ran
  TrainSummary s = train_model(o);
  CHECK(s.steps == 2);
  CHECK(s.epochs_completed == 0);
  CHECK(s.seconds > 0);
  CHECK(std::isfinite(s.last_loss));
  CHECK(fs::exists(root / "out" / "last.safetensors"));
  CHECK(fs::file_size(root / "out" / "curves.png") > 0);
  nlohmann::json j = read_summary(root / "out");
  CHECK(j["steps"] == 2);
  CHECK(j["epochs"] == 0);
  CHECK(j["stop"] == "max_steps");
  CHECK(j["seconds"].get<double>() == doctest::Approx(s.seconds));
  CHECK(j["last_loss"].get<double>() == doctest::Approx(s.last_loss));
  auto log = read_log(root / "out" / "log.jsonl");
  REQUIRE(log.size() >= 3);
  CHECK(log[log.size() - 2]["type"] == "stop");
  CHECK(log[log.size() - 2]["reason"] == "max_steps");
  CHECK(log.back()["type"] == "end");
  CHECK(log.back()["summary"]["steps"] == 2);

  // The normal end writes the same files, with the stop reason "end".
  TrainOptions full = small_options(data, root / "full");
  full.epochs = 1;
  TrainSummary f = train_model(full);
  CHECK(f.epochs_completed == 1);
  CHECK(fs::file_size(root / "full" / "curves.png") > 0);
  nlohmann::json jf = read_summary(root / "full");
  CHECK(jf["stop"] == "end");
  CHECK(jf["steps"] == f.steps);
  CHECK(jf["seconds"].get<double>() > 0);
  CHECK(read_log(root / "full" / "log.jsonl").back()["type"] == "end");
  fs::remove_all(root);
}

TEST_CASE("a stop on bad input during training still writes summary.json and curves.png, then raises") {
  fs::path root = temp_dir("stop_error");
  std::string data = phantom(root / "data", 6, 14);
  // The mask files are read when a batch is built, not when the dataset is
  // checked: training starts, then the first segmentation batch fails.
  fs::remove_all(fs::path(data) / "masks");
  TrainOptions o = small_options(data, root / "out");
  o.epochs = 1;
  CHECK_THROWS_WITH_AS(train_model(o), doctest::Contains("mask"), Error);
  nlohmann::json j = read_summary(root / "out");
  CHECK(j["stop"] == "error");
  CHECK(j["error"].get<std::string>().find("mask") != std::string::npos);
  CHECK(j["seconds"].get<double>() > 0);
  CHECK(fs::exists(root / "out" / "curves.png"));
  auto log = read_log(root / "out" / "log.jsonl");
  REQUIRE(log.size() >= 2);
  CHECK(log[log.size() - 2]["type"] == "stop");
  CHECK(log[log.size() - 2]["reason"] == "error");
  CHECK(log.back()["type"] == "end");
  fs::remove_all(root);
}

namespace {

std::vector<double> step_losses(const fs::path& log) {
  std::vector<double> losses;
  for (const auto& j : read_log(log))
    if (j["type"] == "step") losses.push_back(j["loss"].get<double>());
  return losses;
}

}  // namespace

TEST_CASE("--skip-bad-rows skips rows that fail when decoded, the rest train as without them, resume stays exact") {
  fs::path root = temp_dir("decode_skip");
  std::string data = phantom(root / "data", 6, 15);
  // A copy of the dataset without the row that is about to go bad (its CSV line 2).
  fs::copy(data, root / "without", fs::copy_options::recursive);
  const fs::path seg_csv = root / "without" / "csv_files" / "phantom_seg.csv";
  std::string text;
  {
    std::ifstream in(seg_csv);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
      if (n != 2) text += line + "\n";
  }
  std::ofstream(seg_csv) << text;
  // The row's mask holds 255, a class value out of range: the CSV and header checks pass.
  data::Dataset ds = tasks::read_dataset(data);
  const data::Sample* bad = nullptr;
  for (const auto& s : ds.samples)
    if (ds.tasks[size_t(s.task)].id == "phantom_seg" && s.line == 2) bad = &s;
  REQUIRE(bad != nullptr);
  data::Image m = data::read_mask(bad->mask_path, 2);
  m.at(0, 0) = 255;
  data::write_png(bad->mask_path, m);

  TrainOptions o = small_options(data, root / "stop");
  o.epochs = 1;  // the row is met in a training batch or in validation
  CHECK_THROWS_WITH_AS(train_model(o), doctest::Contains("phantom_seg.csv, line 2"), Error);
  o.max_steps = 6;

  o.skip_bad_rows = true;
  o.out_dir = (root / "skip").string();
  TrainSummary s = train_model(o);
  CHECK(s.skipped_rows == 1);
  nlohmann::json sj = read_summary(root / "skip");
  REQUIRE(sj["skipped_rows"].size() == 1);
  CHECK(sj["skipped_rows"][0]["line"] == 2);
  CHECK(sj["skipped_rows"][0]["reason"].get<std::string>().find("holds value 255") != std::string::npos);
  CHECK(read_log(root / "skip" / "log.jsonl")[0]["skipped_rows"].size() == 1);

  TrainOptions w = o;
  w.data_dir = (root / "without").string();
  w.out_dir = (root / "without_out").string();
  w.skip_bad_rows = false;
  train_model(w);
  const std::vector<double> skipped = step_losses(root / "skip" / "log.jsonl");
  CHECK(skipped.size() == 6);
  CHECK(skipped == step_losses(root / "without_out" / "log.jsonl"));  // bit for bit

  TrainOptions first = o;
  first.out_dir = (root / "resumed").string();
  first.max_steps = 3;
  train_model(first);
  TrainOptions second = o;
  second.out_dir = first.out_dir;
  second.resume = true;
  train_model(second);
  CHECK(step_losses(root / "resumed" / "log.jsonl") == skipped);
  fs::remove_all(root);
}
