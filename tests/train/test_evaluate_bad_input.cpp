// `sono evaluate` on bad prediction folders: the rules of docs/training.md,
// "Bad input" / "evaluate" (an error naming the file and row, or a counted,
// printed warning), checked on a small phantom dataset whose perfect
// predictions are then damaged one way at a time.
#include <doctest/doctest.h>

#include "bad_input_util.h"
#include "data/image.h"
#include "train/evaluate.h"

using namespace sono;
using namespace sono::test;
using nlohmann::json;

namespace {

struct Folders {
  TempDir dir{"sono_eval_bad"};
  fs::path data = dir.path / "data", pred = dir.path / "pred";
  std::vector<data::PhantomRow> rows;
  Folders() {
    rows = small_phantom(data);
    perfect_predictions(rows, data, pred);
  }
  json read(const std::string& file) const { return json::parse(std::ifstream(pred / file)); }
  void write(const std::string& file, const json& j) const { write_text(pred / file, j.dump()); }
  const data::PhantomRow& first(TaskType type) const {
    for (const auto& r : rows)
      if (r.type == type) return r;
    throw std::runtime_error("no row of that kind");
  }
  std::string evaluate_cli() const { return "$SONO evaluate --data " + data.string() + " --pred " + pred.string(); }
};

std::string error_of(const Folders& f) {
  try {
    evaluate_predictions(f.data.string(), f.pred.string());
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("evaluate bad input: perfect predictions score as perfect and warn about nothing") {
  Folders f;
  EvaluationResult r = evaluate_predictions(f.data.string(), f.pred.string());
  CHECK(r.results["classification"]["phantom_cls"]["Accuracy"].get<double>() == doctest::Approx(1.0));
  CHECK(r.results["segmentation"]["phantom_seg"]["DSC"].get<double>() == doctest::Approx(1.0));
  CHECK(r.results["regression"]["phantom_reg"]["MRE"].get<double>() == doctest::Approx(0.0));
  for (auto& [task, n] : r.missing) CHECK_MESSAGE(n == 0, task);
#ifdef SONO_CLI_PATH
  Run run = run_shell(f.evaluate_cli());
  CHECK_MESSAGE(run.rc == 0, run.output);
  CHECK_MESSAGE(run.output.find("warning") == std::string::npos, run.output);
#endif
}

TEST_CASE("evaluate bad input: a missing --pred folder is an error naming it") {
  Folders f;
  const std::string error = [&] {
    try {
      evaluate_predictions(f.data.string(), (f.dir.path / "no_such_pred").string());
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  CHECK_MESSAGE(error.find("no_such_pred") != std::string::npos, error);
  CHECK_MESSAGE(error.find("does not exist") != std::string::npos, error);
}

TEST_CASE("evaluate bad input: null in a prediction (a NaN) is an error naming the file, row and value") {
  Folders f;
  json reg = f.read("regression_predictions.json");
  reg[0]["predicted_points_pixels"][1] = nullptr;
  f.write("regression_predictions.json", reg);
  const std::string error = error_of(f);
  CHECK_MESSAGE(error.find("regression_predictions.json") != std::string::npos, error);
  CHECK_MESSAGE(error.find(reg[0]["image_path"].get<std::string>()) != std::string::npos, error);
  CHECK_MESSAGE(error.find("predicted_points_pixels[1] is null") != std::string::npos, error);

  Folders g;
  json cls = g.read("classification_predictions.json");
  cls[0]["predicted_probs"][0] = nullptr;
  g.write("classification_predictions.json", cls);
  const std::string e2 = error_of(g);
  CHECK_MESSAGE(e2.find("classification_predictions.json") != std::string::npos, e2);
  CHECK_MESSAGE(e2.find("predicted_probs[0] is null") != std::string::npos, e2);
}

TEST_CASE("evaluate bad input: a predicted mask of another size is an error naming both sizes") {
  Folders f;
  const data::PhantomRow& r = f.first(TaskType::Segmentation);
  const fs::path p = f.pred / tasks::submission_mask_path(r.mask_path);
  // The ground truth padded by 8 columns: resized, it would score DSC ~0 without a word.
  data::Image gt = data::read_mask(p.string(), r.num_classes), padded(gt.height, gt.width + 8, 1);
  for (int64_t y = 0; y < gt.height; ++y)
    for (int64_t x = 0; x < gt.width; ++x)
      padded.pixels[size_t(y * padded.width + x)] = gt.pixels[size_t(y * gt.width + x)];
  data::write_png(p.string(), padded);
  const std::string error = error_of(f);
  CHECK_MESSAGE(error.find(p.string()) != std::string::npos, error);
  CHECK_MESSAGE(error.find(std::to_string(gt.width + 8) + "x" + std::to_string(gt.height)) != std::string::npos, error);
  CHECK_MESSAGE(error.find(std::to_string(gt.width) + "x" + std::to_string(gt.height)) != std::string::npos, error);
}

TEST_CASE("evaluate bad input: a predicted mask that is a directory is named as one") {
  Folders f;
  const data::PhantomRow& r = f.first(TaskType::Segmentation);
  const fs::path p = f.pred / tasks::submission_mask_path(r.mask_path);
  fs::remove(p);
  fs::create_directories(p);
  const std::string error = error_of(f);
  CHECK_MESSAGE(error.find(p.string()) != std::string::npos, error);
  CHECK_MESSAGE(error.find("is a directory") != std::string::npos, error);
}

TEST_CASE("evaluate bad input: two predictions for one row are an error naming both entries") {
  Folders f;
  json cls = f.read("classification_predictions.json");
  json copy = cls[0];
  copy["predicted_class"] = (copy["predicted_class"].get<int64_t>() + 1) % 3;
  cls.push_back(copy);
  f.write("classification_predictions.json", cls);
  const std::string error = error_of(f);
  CHECK_MESSAGE(error.find("classification_predictions.json entries 0 and " + std::to_string(cls.size() - 1)) !=
                    std::string::npos,
                error);
  CHECK_MESSAGE(error.find(cls[0]["image_path"].get<std::string>()) != std::string::npos, error);
}

TEST_CASE("evaluate bad input: a predicted class outside the task's classes is an error naming the row") {
  Folders f;
  json cls = f.read("classification_predictions.json");
  cls[0]["predicted_class"] = 7;
  f.write("classification_predictions.json", cls);
  const std::string error = error_of(f);
  CHECK_MESSAGE(error.find("predicted_class must be an integer in [0, 3), got 7") != std::string::npos, error);
}

#ifdef SONO_CLI_PATH
TEST_CASE("evaluate bad input: a missing --pred folder exits non-zero naming it") {
  Folders f;
  Run run = run_shell("$SONO evaluate --data " + f.data.string() + " --pred " + (f.dir.path / "nope").string());
  CHECK_MESSAGE(run.rc != 0, run.output);
  CHECK_MESSAGE(run.output.find((f.dir.path / "nope").string() + " does not exist") != std::string::npos, run.output);
}

TEST_CASE("evaluate bad input: a missing submission file is a printed, counted warning") {
  Folders f;
  fs::remove(f.pred / "detection_predictions.json");
  Run run = run_shell(f.evaluate_cli());
  CHECK_MESSAGE(run.rc == 0, run.output);
  CHECK_MESSAGE(run.output.find("warning: " + (f.pred / "detection_predictions.json").string() +
                                " does not exist: every row of phantom_det") != std::string::npos,
                run.output);
  CHECK_MESSAGE(run.output.find("1 warnings") != std::string::npos, run.output);
  CHECK_MESSAGE(run.output.find("MISSING_PREDICTIONS") != std::string::npos, run.output);
}

TEST_CASE("evaluate bad input: predictions for a task the dataset lacks are a printed, counted warning") {
  Folders f;
  json cls = f.read("classification_predictions.json");
  json extra = cls[0];
  extra["task_id"] = "no_such_task";
  cls.push_back(extra);
  cls.push_back(extra);
  cls.back()["image_path"] = "elsewhere.png";
  f.write("classification_predictions.json", cls);
  Run run = run_shell(f.evaluate_cli());
  CHECK_MESSAGE(run.rc == 0, run.output);
  CHECK_MESSAGE(run.output.find("2 entries for task 'no_such_task'") != std::string::npos, run.output);
  CHECK_MESSAGE(run.output.find("1 warnings") != std::string::npos, run.output);
}

TEST_CASE("evaluate bad output: --out into an unwritable place or a full disk exits non-zero naming the file") {
  Folders f;
  const fs::path full_disk = f.dir.path / "evaluation.json";
  Run run = run_shell(std::string(kFullDisk) + f.evaluate_cli() + " --out " + full_disk.string());
  CHECK_MESSAGE(run.rc != 0, run.output);
  CHECK_MESSAGE(run.output.find("cannot write " + full_disk.string()) != std::string::npos, run.output);
  CHECK_MESSAGE(!fs::exists(full_disk), "a partial ", full_disk.string(), " was left");

  // /proc/self takes no new files, even for root.
  run = run_shell(f.evaluate_cli() + " --out /proc/self/sono_evaluation.json");
  CHECK_MESSAGE(run.rc != 0, run.output);
  CHECK_MESSAGE(run.output.find("cannot write /proc/self/sono_evaluation.json") != std::string::npos, run.output);
}
#endif
