// `sono predict`, `phantom` and `convert` on bad options and failing writes
// (docs/training.md, "Bad input" / "predict"): the option, its value and its
// range are named; a failed write exits non-zero naming the file and leaves
// no empty or partial file; a non-finite output stops naming the CSV row.
#include <doctest/doctest.h>

#include <cmath>

#include "bad_input_util.h"
#include "io/safetensors.h"
#include "tasks/dataset.h"
#include "train/model_io.h"
#include "train/predict.h"

using namespace sono;
using namespace sono::test;

namespace {

model::MultiTaskModel untrained_b0(const data::Dataset& ds) {
  model::MultiTaskModelConfig cfg = tasks::model_config();
  cfg.encoder = "efficientnet-b0";
  cfg.tasks = tasks::registry_for(ds, false);
  cfg.init_seed = 1;
  return model::MultiTaskModel(cfg);
}

// Regular files under `dir` that are empty or left-over temporaries.
std::vector<std::string> broken_files(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && (e.file_size() == 0 || e.path().filename().string().find(".tmp") != std::string::npos))
      out.push_back(e.path().string());
  return out;
}

struct Predictable {
  TempDir dir{"sono_predict_bad"};
  fs::path data = dir.path / "data", weights = dir.path / "w.safetensors";
  Predictable() {
    small_phantom(data);
    data::Dataset ds = tasks::read_dataset(data.string());
    model::MultiTaskModel m = untrained_b0(ds);
    nn::write_safetensors(weights.string(), m.state_dict(), model_metadata(m));
  }
  std::string cli(const std::string& extra) const {
    return "$SONO predict --quiet --data " + data.string() + " --weights " + weights.string() + " --out " +
           (dir.path / "pred").string() + " " + extra;
  }
};

}  // namespace

TEST_CASE("predict bad input: a non-finite output stops naming the CSV row, and nothing of it is written") {
  TempDir dir("sono_predict_nan");
  small_phantom(dir.path / "data");
  data::Dataset ds = tasks::read_dataset((dir.path / "data").string());
  model::MultiTaskModel m = untrained_b0(ds);
  bool poisoned = false;
  for (auto& [name, t] : m.named_parameters())
    if (name.rfind("heads.phantom_reg.", 0) == 0 && t.dtype() == DType::F32) {
      t.data<float>()[0] = NAN;
      poisoned = true;
    }
  REQUIRE(poisoned);
  InferenceOptions o;
  o.image_size = 32;
  o.num_workers = 0;
  std::string error;
  try {
    predict(m, ds, (dir.path / "pred").string(), o);
  } catch (const std::exception& e) {
    error = e.what();
  }
  CHECK_MESSAGE(error.find("phantom_reg.csv, line 2") != std::string::npos, error);
  CHECK_MESSAGE(error.find("not finite") != std::string::npos, error);
  CHECK_MESSAGE(!fs::exists(dir.path / "pred" / "regression_predictions.json"), "a JSON with null was written");
}

#ifdef SONO_CLI_PATH
TEST_CASE("predict bad input: --size, --batch, --workers and --encoder are named with their value and range") {
  Predictable p;
  struct Case {
    std::string options, message;
  };
  for (const Case& c :
       {Case{"--size 7", "--size 7 is not allowed: the input size must be a positive multiple of 32"},
        Case{"--size 100", "--size 100 is not allowed"}, Case{"--size -32", "--size -32 is not allowed"},
        Case{"--size 0", "--size 0 is not allowed"}, Case{"--size 32 --batch 0", "--batch 0 is outside [1, 4096]"},
        Case{"--size 32 --workers 100000", "--workers 100000 is outside [0, 256]"},
        Case{"--size 32 --encoder foo", "--encoder 'foo' is not a known encoder"},
        Case{"--size 32 --encoder efficientnet-b1", "--encoder efficientnet-b1 disagrees with " + p.weights.string() +
                                                        ", which holds an efficientnet-b0 model"}}) {
    Run run = run_shell(p.cli(c.options));
    CHECK_MESSAGE(run.rc != 0, c.options, ": ", run.output);
    CHECK_MESSAGE(run.output.find(c.message) != std::string::npos, c.options, ": ", run.output);
  }
  Run ok = run_shell(p.cli("--size 32 --workers 0 --encoder efficientnet-b0"));
  CHECK_MESSAGE(ok.rc == 0, ok.output);
}

TEST_CASE("predict bad output: a full disk exits non-zero naming the file, leaving no empty file") {
  Predictable p;
  Run run = run_shell(std::string(kFullDisk) + p.cli("--size 32 --workers 0"));
  CHECK_MESSAGE(run.rc != 0, run.output);
  CHECK_MESSAGE(run.output.find("cannot write " + (p.dir.path / "pred").string()) != std::string::npos, run.output);
  for (const auto& f : broken_files(p.dir.path / "pred")) FAIL_CHECK("empty or temporary file left: ", f);
}

TEST_CASE("phantom bad output: a full disk exits non-zero naming the file, leaving no empty file") {
  TempDir dir("sono_phantom_full");
  Run run = run_shell(std::string(kFullDisk) + "$SONO phantom --out " + (dir.path / "ph").string() +
                      " --train-images 2 --val-images 1 --min-size 32 --max-size 40");
  CHECK_MESSAGE(run.rc != 0, run.output);
  CHECK_MESSAGE(run.output.find("cannot write " + (dir.path / "ph").string()) != std::string::npos, run.output);
  for (const auto& f : broken_files(dir.path / "ph")) FAIL_CHECK("empty or temporary file left: ", f);

  // /proc takes no new folders, even for root.
  run = run_shell("$SONO phantom --out /proc/sono_phantom --train-images 2 --val-images 1");
  CHECK_MESSAGE(run.rc != 0, run.output);
  CHECK_MESSAGE(run.output.find("/proc/sono_phantom") != std::string::npos, run.output);
}

TEST_CASE("convert bad output: /dev/full is refused and stays a device, and a full disk is named") {
  Predictable p;
  Run run = run_shell("$SONO convert " + p.weights.string() + " /dev/full");
  CHECK_MESSAGE(run.rc != 0, run.output);
  CHECK_MESSAGE(run.output.find("cannot write /dev/full") != std::string::npos, run.output);
  struct stat st;
  REQUIRE(::lstat("/dev/full", &st) == 0);
  CHECK_MESSAGE(S_ISCHR(st.st_mode), "/dev/full is no longer a character device");

  const fs::path out = p.dir.path / "converted.safetensors";
  run = run_shell(std::string(kFullDisk) + "$SONO convert " + p.weights.string() + " " + out.string());
  CHECK_MESSAGE(run.rc != 0, run.output);
  CHECK_MESSAGE(run.output.find("cannot write " + out.string()) != std::string::npos, run.output);
  CHECK_MESSAGE(!fs::exists(out), "a partial ", out.string(), " was left");
  for (const auto& f : broken_files(p.dir.path)) FAIL_CHECK("empty or temporary file left: ", f);
}
#endif
