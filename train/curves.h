#pragma once
// Training curves as a PNG: the per-step training loss (points coloured by
// task, with a running mean) and the validation score per epoch.
#include <filesystem>
#include <string>
#include <vector>

namespace sono {

struct CurveData {
  struct Step {
    int64_t step;
    double loss;
    std::string task;
  };
  struct Epoch {
    int64_t epoch;
    double score;
  };
  std::vector<Step> steps;
  std::vector<Epoch> epochs;
};

// The curves recorded in a training log (log.jsonl); empty when absent.
CurveData read_curves(const std::filesystem::path& log_jsonl);
void write_curves_png(const std::string& path, const CurveData& data);

}  // namespace sono
