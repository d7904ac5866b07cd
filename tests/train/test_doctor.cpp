// `sono doctor` run as a program: a good phantom dataset passes (exit 0), bad
// rows are named by file and line (exit 1), a CUDA device that is not there
// is refused, an impossible memory request is refused with its estimate, and
// options are checked as `sono train` checks them.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/device.h"
#include "core/device_info.h"
#include "data/image.h"
#include "tests/train/bad_input_util.h"

using namespace sono;
using namespace sono::test;
using nlohmann::json;

namespace {

// sono doctor with `args` (b0 at 64x64, batch 4, unless `args` says otherwise).
Run doctor(const std::string& args) {
  return run_shell("\"$SONO\" doctor --encoder efficientnet-b0 --size 64 --batch 4 --workers 1 " + args);
}

json doctor_json(const std::string& args, int& rc) {
  Run r = run_shell("\"$SONO\" doctor --encoder efficientnet-b0 --size 64 --batch 4 --workers 1 --json " + args +
                    " 2>/dev/null");
  rc = r.rc;
  return json::parse(r.output);
}

// Replaces line `line` (1-based) of `file` with `text`.
void replace_line(const fs::path& file, int line, const std::string& text) {
  std::ifstream in(file);
  std::string all, l;
  for (int i = 1; std::getline(in, l); ++i) all += (i == line ? text : l) + "\n";
  in.close();
  write_text(file, all);
}

}  // namespace

TEST_CASE("doctor: the phantom dataset passes with exit 0, rows per task and split counted") {
  TempDir dir("sono_doctor_ok");
  const auto rows = small_phantom(dir.path);
  Run r = doctor("--data " + dir.path.string());
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(r.output.find("training would start") != std::string::npos);
  CHECK(r.output.find("0 bad rows") != std::string::npos);
  CHECK(r.output.find("phantom_seg (segmentation, 2 classes)") != std::string::npos);
  CHECK(r.output.find("estimated peak") != std::string::npos);

  int rc = -1;
  const json j = doctor_json("--data " + dir.path.string(), rc);
  CHECK(rc == 0);
  CHECK(j["ok"] == true);
  CHECK(j["problems"].empty());
  CHECK(j["dataset"]["rows"] == rows.size());
  CHECK(j["dataset"]["bad_row_count"] == 0);
  int64_t train = 0, val = 0;
  for (const json& t : j["dataset"]["tasks"]) {
    train += t["train"].get<int64_t>();
    val += t["val"].get<int64_t>();
  }
  CHECK(train == j["dataset"]["train_rows"].get<int64_t>());
  CHECK(val == j["dataset"]["val_rows"].get<int64_t>());
  CHECK(train + val == int64_t(rows.size()));
  CHECK(j["dataset"]["tasks"].size() == 5);
  CHECK(j["memory"]["fits"] == true);
  CHECK(j["memory"]["peak_bytes"].get<double>() > 0);
  CHECK(j["build"]["cuda"] == cuda_compiled());
  CHECK(j["build"]["cpu_threads"].get<int>() >= 1);
  CHECK(!j["build"]["blas"]["config"].get<std::string>().empty());
}

TEST_CASE("doctor: bad rows are named by file and line, exit 1, and --skip-bad-rows lists them and passes") {
  TempDir dir("sono_doctor_bad");
  small_phantom(dir.path);
  const fs::path csv = dir.path / "csv_files";
  // A CSV-level problem (label 7 of 3 classes) on line 3 ...
  replace_line(csv / "phantom_cls.csv", 3, "../images/blobs/1.png,7,phantom_cls,classification,3");
  // ... and one that only decoding finds: the mask of the first segmentation row (line 2) holds 255.
  const fs::path mask = (csv / "../masks/lesion/0.png").lexically_normal();
  const data::ImageInfo info = data::read_image_info(mask.string());
  data::Image bad(info.height, info.width, 1);
  std::fill(bad.pixels.begin(), bad.pixels.end(), uint8_t(255));
  data::write_png(mask.string(), bad);

  Run r = doctor("--data " + dir.path.string());
  INFO(r.output);
  CHECK(r.rc == 1);
  CHECK(r.output.find("training would NOT start") != std::string::npos);
  CHECK(r.output.find("2 bad rows") != std::string::npos);
  CHECK(r.output.find("phantom_cls.csv, line 3") != std::string::npos);
  CHECK(r.output.find("phantom_seg.csv, line 2") != std::string::npos);

  int rc = -1;
  const json j = doctor_json("--data " + dir.path.string(), rc);
  CHECK(rc == 1);
  CHECK(j["ok"] == false);
  REQUIRE(j["dataset"]["bad_rows"].size() == 2);
  // In CSV order (the files sorted by name), whatever stage found them.
  CHECK(fs::path(j["dataset"]["bad_rows"][0]["file"].get<std::string>()).filename() == "phantom_cls.csv");
  CHECK(j["dataset"]["bad_rows"][0]["line"] == 3);
  CHECK(fs::path(j["dataset"]["bad_rows"][1]["file"].get<std::string>()).filename() == "phantom_seg.csv");
  CHECK(j["dataset"]["bad_rows"][1]["line"] == 2);

  Run skip = doctor("--data " + dir.path.string() + " --skip-bad-rows");
  INFO(skip.output);
  CHECK(skip.rc == 0);
  CHECK(skip.output.find("2 bad rows") != std::string::npos);
  CHECK(skip.output.find("training would start") != std::string::npos);
}

TEST_CASE("doctor: a missing dataset folder is a problem, not a crash") {
  Run r = doctor("--data /nonexistent/sono_doctor");
  INFO(r.output);
  CHECK(r.rc == 1);
  CHECK(r.output.find("dataset: ") != std::string::npos);
  CHECK(r.output.find("/nonexistent/sono_doctor") != std::string::npos);
}

TEST_CASE("doctor: --device cuda without a CUDA backend or without a GPU says so, exit 1") {
  const CudaInfo cuda = cuda_info();
  Run r = doctor("--device cuda");
  INFO(r.output);
  if (!cuda.compiled) {
    CHECK(r.rc == 1);
    CHECK(r.output.find("--device cuda: this build of Sono has no CUDA backend") != std::string::npos);
  } else if (cuda.devices.empty()) {
    CHECK(r.rc == 1);
    CHECK(r.output.find("--device cuda: " + cuda.error) != std::string::npos);
  } else {
    // A GPU is here: it is listed with its compute capability and training would start.
    CHECK(r.rc == 0);
    CHECK(r.output.find(cuda.devices[0].name) != std::string::npos);
    CHECK(r.output.find("compute capability") != std::string::npos);
  }
  Run beyond = doctor("--device cuda:99");
  INFO(beyond.output);
  CHECK(beyond.rc == 1);
  CHECK(beyond.output.find("--device cuda:99") != std::string::npos);
  Run unknown = doctor("--device gpu");
  CHECK(unknown.rc == 1);
  CHECK(unknown.output.find("--device 'gpu'") != std::string::npos);
}

TEST_CASE("doctor: an impossible memory request reports the estimate and exits 1") {
  Run r = run_shell("\"$SONO\" doctor --encoder efficientnet-b0 --batch 4096 --size 2048");
  INFO(r.output);
  CHECK(r.rc == 1);
  CHECK(r.output.find("memory: the estimated peak of a training step") != std::string::npos);
  CHECK(r.output.find("exceeds") != std::string::npos);
  CHECK(r.output.find("--batch 4096 --size 2048") != std::string::npos);
  const json j = json::parse(
      run_shell("\"$SONO\" doctor --encoder efficientnet-b0 --batch 4096 --size 2048 --json 2>/dev/null").output);
  CHECK(j["memory"]["fits"] == false);
  CHECK(j["memory"]["peak_bytes"].get<double>() > j["memory"]["available_bytes"].get<double>());
  CHECK(j["memory"]["available_bytes"].get<double>() > 0);
  CHECK(j["cpu"]["memory_available_bytes"] == j["memory"]["available_bytes"]);
}

TEST_CASE("doctor: options are checked as sono train checks them, naming the option, value and range") {
  struct Bad {
    const char* args;
    const char* message;
  };
  for (const Bad b : {Bad{"--batch 100000", "doctor: --batch 100000: must be an integer in 1..4096"},
                      Bad{"--size 33", "doctor: --size 33: must be a positive multiple of 32 in 32..4096"},
                      Bad{"--size 0", "doctor: --size 0: must be a positive multiple of 32"},
                      Bad{"--encoder efficientnet-b9", "doctor: --encoder 'efficientnet-b9': must be one of"},
                      Bad{"--val-fraction 1", "doctor: --val-fraction 1: must be a number in [0, 1)"}}) {
    Run r = run_shell(std::string("\"$SONO\" doctor ") + b.args);
    INFO(b.args);
    INFO(r.output);
    CHECK(r.rc == 1);
    CHECK(r.output.find(b.message) != std::string::npos);
  }
  Run bf16 = doctor("--precision bf16");
  INFO(bf16.output);
  CHECK(bf16.rc == 0);  // mixed precision is supported on the CPU (docs/precision.md)
  CHECK(bf16.output.find("precision bf16 (supported: mixed precision") != std::string::npos);
  Run fp16 = doctor("--precision fp16");
  CHECK(fp16.rc == 1);
  CHECK(fp16.output.find("unknown precision 'fp16'") != std::string::npos);
  Run help = run_shell("\"$SONO\" doctor --help");
  CHECK(help.rc == 0);
  for (const char* opt : {"--data", "--encoder", "--size", "--batch", "--precision", "--device", "--json"})
    CHECK(help.output.find(opt) != std::string::npos);
}

TEST_CASE("doctor: the step time comes from the newest matching benchmark results, scaled to the batch") {
  TempDir dir("sono_doctor_bench");
  Run none = doctor("--bench-results " + dir.path.string());
  CHECK(none.rc == 0);
  CHECK(none.output.find("no benchmark results in " + dir.path.string()) != std::string::npos);
  // Two `sono bench --per-task --json` files of b0 at 64 on the CPU; the newer one counts.
  auto bench = [&](const char* name, const char* time, double ms) {
    json j = {{"encoder", "efficientnet-b0"},
              {"size", 64},
              {"batch", 2},
              {"device", "cpu"},
              {"time_utc", time},
              {"tasks", {{{"id", "seg"}, {"batch", 2}, {"ms_per_step", ms}}}}};
    write_text(dir.path / name, j.dump());
  };
  bench("old.json", "2026-01-01T00:00:00Z", 10);
  bench("new.json", "2026-06-01T00:00:00Z", 30);
  write_text(dir.path / "broken.json", "{not json");
  Run r = doctor("--bench-results " + dir.path.string());
  INFO(r.output);
  CHECK(r.rc == 0);
  CHECK(r.output.find("seg 60 ms per training step at batch 4") != std::string::npos);  // 30 ms at batch 2
  CHECK(r.output.find("new.json") != std::string::npos);
  Run other =
      run_shell("\"$SONO\" doctor --encoder efficientnet-b1 --size 64 --batch 4 --bench-results " + dir.path.string());
  CHECK(other.output.find("none of the 3 results files") != std::string::npos);
}
