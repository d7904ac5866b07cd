// `sono train`'s bad-input rules (docs/training.md, "Bad input", train): options
// refused with their name and value, runs that would overwrite another refused,
// resumes of another configuration refused naming the options, damaged model
// metadata refused naming the file, failed writes reported, signals checkpointed.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <thread>

#include "data/loader.h"
#include "data/phantom.h"
#include "io/safetensors.h"
#include "tasks/dataset.h"
#include "tests/support/check.h"
#include "tests/train/train_test_util.h"
#include "train/model_io.h"
#include "train/trainer.h"

using namespace sono;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path temp_dir(const std::string& name) { return test::scratch_dir("sono_test_train_bad_", name); }

std::string phantom(const fs::path& root) {
  data::write_phantom_dataset(root.string(), test::small_phantom_options(6, 96, 11));
  return root.string();
}

TrainOptions small_options(const std::string& data, const fs::path& out) {
  return test::small_train_options(data, out, 2);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<json> log_records(const fs::path& out) {
  std::vector<json> r;
  std::ifstream in(out / "log.jsonl");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) r.push_back(json::parse(line));
  return r;
}

}  // namespace

TEST_CASE("train options: each bad value is refused naming the option, the value and the range") {
  // No dataset is needed: the options are checked before anything is read.
  const TrainOptions good = small_options("no-such-data", temp_dir("options") / "run");
  struct Case {
    std::function<void(TrainOptions&)> set;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {[](TrainOptions& o) { o.lr_encoder = -1e-3; }, "--lr -0.001: must be a number in 0..10"},
      {[](TrainOptions& o) { o.lr_heads = -1; }, "--lr-heads -1"},
      {[](TrainOptions& o) { o.lr_decoder = NAN; }, "--lr-decoder nan"},
      {[](TrainOptions& o) { o.weight_decay = -0.01; }, "--weight-decay -0.01"},
      {[](TrainOptions& o) { o.eta_min = -1; }, "--eta-min -1"},
      {[](TrainOptions& o) { o.bn_calibration_batches = -1; }, "--bn-calibration -1: must be an integer in 0..100000"},
      {[](TrainOptions& o) { o.max_steps = 0; }, "--max-steps 0: must be an integer >= 1"},
      {[](TrainOptions& o) { o.max_steps = -2; }, "--max-steps -2"},
      {[](TrainOptions& o) { o.batch_size = 0; }, "--batch 0: must be an integer in 1..4096"},
      {[](TrainOptions& o) { o.image_size = 0; }, "--size 0: must be a positive multiple of 32"},
      {[](TrainOptions& o) { o.image_size = 7; }, "--size 7: must be a positive multiple of 32"},
      {[](TrainOptions& o) { o.image_size = -64; }, "--size -64: must be a positive multiple of 32"},
      {[](TrainOptions& o) { o.epochs = 0; }, "--epochs 0: must be an integer in 1..100000"},
      {[](TrainOptions& o) { o.val_fraction = 1; }, "--val-fraction 1: must be a number in [0, 1)"},
      {[](TrainOptions& o) { o.num_workers = -1; }, "--workers -1"},
      {[](TrainOptions& o) { o.encoder = "resnet50"; }, "--encoder 'resnet50'"},
      {[](TrainOptions& o) { o.recipe = "fast"; }, "--recipe 'fast'"},
      {[](TrainOptions& o) {
         o.resume = true;
         o.overwrite = true;
       },
       "--resume and --overwrite together"},
  };
  for (const Case& c : cases) {
    TrainOptions o = good;
    c.set(o);
    const std::string msg = error_of([&] { train_model(o); });
    INFO(msg);
    CHECK(msg.find(c.expect) != std::string::npos);
    CHECK(!fs::exists(o.out_dir));  // refused before anything is written
  }
  CHECK_NOTHROW(validate(good));
}

TEST_CASE("loader: a huge worker count is capped with a message, not an abort") {
  fs::path root = temp_dir("workers");
  data::Dataset ds = tasks::read_dataset(phantom(root / "data"), data::OnBadRow::Stop);
  data::LoaderOptions lo;
  lo.batch.image_size = 32;
  lo.num_workers = 100000;
  data::Loader loader(ds, lo, nullptr);
  std::vector<data::PlannedBatch> plan(1);
  plan[0].task = ds.samples[0].task;
  plan[0].rows = {0};
  loader.start(plan, 0, 0);
  data::Batch b;
  CHECK(loader.next(b));
  CHECK(b.size() == 1);
  CHECK(data::max_loader_workers() <= 256);
}

TEST_CASE("train into a folder holding another run is refused unless --resume or --overwrite") {
  fs::path root = temp_dir("overwrite");
  const std::string data = phantom(root / "data");
  TrainOptions o = small_options(data, root / "run");
  o.max_steps = 1;
  train_model(o);
  // A best model of the earlier run (as an epoch end writes it) must not survive --overwrite.
  std::ofstream(root / "run" / "best.safetensors") << "stale";
  const std::string msg = error_of([&] { train_model(o); });
  CHECK(msg.find("already holds a run") != std::string::npos);
  CHECK(msg.find("--overwrite") != std::string::npos);
  CHECK(fs::file_size(root / "run" / "best.safetensors") == 5);  // untouched by the refusal

  // Temporary files of killed atomic writes go; other files stay.
  std::ofstream(root / "run" / "last.safetensors.tmp-Ab3x9Z") << "partial";
  std::ofstream(root / "run" / "notes.tmp-keep") << "mine";
  std::ofstream(root / "run" / "data.csv") << "mine";
  o.overwrite = true;
  train_model(o);
  CHECK(!fs::exists(root / "run" / "best.safetensors"));
  CHECK(!fs::exists(root / "run" / "last.safetensors.tmp-Ab3x9Z"));
  CHECK(fs::exists(root / "run" / "notes.tmp-keep"));
  CHECK(fs::exists(root / "run" / "data.csv"));
  CHECK(fs::exists(root / "run" / "last.safetensors"));
  int starts = 0;
  for (const json& r : log_records(root / "run")) starts += r["type"] == "start";
  CHECK(starts == 1);  // a fresh log, not the old one appended to
}

TEST_CASE("--resume of a checkpoint trained with other options names them in one short message") {
  fs::path root = temp_dir("config");
  const std::string data = phantom(root / "data");
  TrainOptions o = small_options(data, root / "run");
  o.max_steps = 1;
  train_model(o);
  TrainOptions other = o;
  other.resume = true;
  other.max_steps = 2;
  other.image_size = 96;
  other.encoder = "efficientnet-b1";
  std::string msg = error_of([&] { train_model(other); });
  INFO(msg);
  CHECK(msg.find("was trained with --encoder efficientnet-b0 --size 64; this run asks --encoder efficientnet-b1 "
                 "--size 96") != std::string::npos);
  CHECK(msg.size() < 400);

  other = o;
  other.resume = true;
  other.max_steps = 2;
  other.seed = 6;
  msg = error_of([&] { train_model(other); });
  CHECK(msg.find("--seed 5; this run asks --seed 6") != std::string::npos);

  // Another dataset (fewer rows) in the same folder name.
  fs::path data2 = root / "data2";
  data::PhantomOptions po;
  po.images_per_task = 5;
  po.min_size = 64;
  po.max_size = 96;
  data::write_phantom_dataset(data2.string(), po);
  other = o;
  other.resume = true;
  other.max_steps = 2;
  other.data_dir = data2.string();
  msg = error_of([&] { train_model(other); });
  INFO(msg);
  CHECK(msg.find("was trained with --data (") != std::string::npos);
  CHECK(msg.find("; this run asks --data (") != std::string::npos);

  other = o;  // the same options resume
  other.resume = true;
  other.max_steps = 2;
  CHECK(train_model(other).steps == 2);
}

TEST_CASE("model metadata out of range is refused naming the file, the key and the value") {
  fs::path root = temp_dir("metadata");
  data::Dataset ds = tasks::read_dataset(phantom(root / "data"), data::OnBadRow::Stop);
  const nn::NamedTensors tensors = {{"encoder._conv_stem.weight", Tensor::zeros({2, 3, 3, 3})}};
  auto refused = [&](std::map<std::string, std::string> meta, const std::string& expect) {
    const std::string path = (root / "w.safetensors").string();
    nn::write_safetensors(path, tensors, meta);
    const std::string msg = error_of([&] { load_model_for_dataset(path, ds); });
    INFO(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(expect) != std::string::npos);
  };
  refused({{"sono.encoder", "efficientnet-b0"}, {"sono.image_size", "99999"}},
          "'sono.image_size' metadata '99999' is not a positive multiple of 32 in 32..4096");
  refused({{"sono.encoder", "efficientnet-b0"}, {"sono.image_size", "-32"}}, "'sono.image_size' metadata '-32'");
  refused({{"sono.encoder", "efficientnet-b0"}, {"sono.tasks", R"([["t","classification",2000000000]])"}},
          "task 't' has num_classes 2000000000, allowed 1..100000");
  refused({{"sono.encoder", "efficientnet-b0"}, {"sono.tasks", R"([["t","classification",0]])"}}, "num_classes 0");
  refused({{"sono.encoder", "efficientnet-b99"}}, "'sono.encoder' metadata 'efficientnet-b99'");
}

TEST_CASE("a failed write of log.jsonl or summary.json stops training naming the file") {
  if (!fs::exists("/dev/full")) return;
  fs::path root = temp_dir("writes");
  const std::string data = phantom(root / "data");
  TrainOptions o = small_options(data, root / "run");
  o.max_steps = 1;
  train_model(o);
  TrainOptions more = o;
  more.resume = true;
  more.max_steps = 2;

  fs::remove(root / "run" / "log.jsonl");
  fs::create_symlink("/dev/full", root / "run" / "log.jsonl");  // every append fails: a full disk
  std::string msg = error_of([&] { train_model(more); });
  CHECK(msg.find("cannot write " + (root / "run" / "log.jsonl").string()) != std::string::npos);

  fs::remove(root / "run" / "log.jsonl");
  fs::remove(root / "run" / "summary.json");
  fs::create_symlink("/dev/full", root / "run" / "summary.json");
  msg = error_of([&] { train_model(more); });
  CHECK(msg.find("cannot write " + (root / "run" / "summary.json").string()) != std::string::npos);
}

TEST_CASE("SIGTERM stops after the current step with a checkpoint, a stop record and a resume hint") {
  fs::path root = temp_dir("signal");
  const std::string data = phantom(root / "data");
  TrainOptions straight = small_options(data, root / "straight");
  straight.max_steps = 8;
  train_model(straight);

  TrainOptions o = small_options(data, root / "run");
  o.handle_signals = true;
  std::atomic<bool> done{false};
  // Sends SIGTERM once a step record is in the log (as a user's kill would).
  std::thread killer([&] {
    while (!done) {
      std::ifstream in(root / "run" / "log.jsonl");
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.find("\"type\":\"step\"") != std::string::npos) {
        ::kill(::getpid(), SIGTERM);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  int sig = 0;
  std::string msg;
  try {
    train_model(o);
  } catch (const TrainInterrupted& e) {
    sig = e.signal;
    msg = e.what();
  }
  done = true;
  killer.join();
  REQUIRE(sig == SIGTERM);
  CHECK(msg.find("--resume") != std::string::npos);
  std::vector<json> log = log_records(root / "run");
  REQUIRE(log.size() >= 3);
  const json& stop = log[log.size() - 2];
  CHECK(stop["type"] == "stop");
  CHECK(stop["reason"] == "signal");
  CHECK(stop["signal"] == "SIGTERM");
  const int64_t stopped_at = stop["global_step"];
  CHECK(stopped_at >= 1);
  CHECK(stopped_at < 8);
  CHECK(log.back()["type"] == "end");
  CHECK(log.back()["summary"]["stop"] == "signal");
  CHECK(fs::exists(root / "run" / "summary.json"));
  CHECK(fs::exists(root / "run" / "curves.png"));

  // The checkpoint is at the stop and resumes to the uninterrupted run's state.
  TrainOptions resumed = o;
  resumed.resume = true;
  resumed.max_steps = 8;
  CHECK(train_model(resumed).steps == 8);
  auto a = nn::read_safetensors((root / "straight" / "last.safetensors").string());
  auto b = nn::read_safetensors((root / "run" / "last.safetensors").string());
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    REQUIRE(a.tensors[i].first == b.tensors[i].first);
    auto r = test::all_close(b.tensors[i].second, a.tensors[i].second, test::Tolerance{0, 0});
    CHECK_MESSAGE(r.ok, a.tensors[i].first, ": ", r.report);
  }
  CHECK(a.metadata.at("sono.trainer_state") == b.metadata.at("sono.trainer_state"));
}
