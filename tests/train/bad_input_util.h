#pragma once
// Shared by the predict/evaluate/phantom/convert bad-input tests: a small
// phantom dataset, a prediction folder that matches it exactly, and running
// the `sono` program.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/phantom.h"
#include "tasks/segmentation.h"

namespace sono::test {

namespace fs = std::filesystem;

// A fresh folder under the temporary directory, removed with the object.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

inline std::vector<data::PhantomRow> small_phantom(const fs::path& root) {
  data::PhantomOptions o;
  o.images_per_task = 3;
  o.min_size = 40;
  o.max_size = 56;
  o.seed = 5;
  return data::write_phantom_dataset(root.string(), o);
}

inline void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

// Perfect predictions of `rows` in the submission layout under `pred`.
inline void perfect_predictions(const std::vector<data::PhantomRow>& rows, const fs::path& data, const fs::path& pred) {
  using nlohmann::json;
  json cls = json::array(), det = json::array(), reg = json::array();
  for (const auto& r : rows) {
    switch (r.type) {
      case TaskType::Classification: {
        std::vector<double> p(size_t(r.num_classes), 0.0);
        p[size_t(r.label)] = 1.0;
        cls.push_back({{"image_path", r.image_path},
                       {"task_id", r.task_id},
                       {"predicted_class", r.label},
                       {"predicted_probs", p}});
        break;
      }
      case TaskType::Detection:
        det.push_back({{"image_path", r.image_path},
                       {"task_id", r.task_id},
                       {"bbox_pixels", {r.box.x_min, r.box.y_min, r.box.x_max, r.box.y_max}}});
        break;
      case TaskType::Regression:
        reg.push_back({{"image_path", r.image_path}, {"task_id", r.task_id}, {"predicted_points_pixels", r.points}});
        break;
      case TaskType::Segmentation: {
        fs::path dst = pred / tasks::submission_mask_path(r.mask_path);
        fs::create_directories(dst.parent_path());
        fs::copy_file((data / "csv_files" / r.mask_path).lexically_normal(), dst, fs::copy_options::overwrite_existing);
        break;
      }
    }
  }
  fs::create_directories(pred);
  write_text(pred / "classification_predictions.json", cls.dump());
  write_text(pred / "detection_predictions.json", det.dump());
  write_text(pred / "regression_predictions.json", reg.dump());
}

struct Run {
  int rc = -1;
  std::string output;  // stdout and stderr
};

// Runs `command` in sh with SONO standing for the `sono` program.
inline Run run_shell(const std::string& command) {
  const std::string full = "SONO='" SONO_CLI_PATH "'; export SONO; " + command + " 2>&1";
  Run r;
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// A shell prefix that makes every write to a file fail (EFBIG, as a full disk
// fails it with ENOSPC; SIGXFSZ ignored, which exec keeps).
inline const char* kFullDisk = "trap '' XFSZ; ulimit -f 0; ";

}  // namespace sono::test
