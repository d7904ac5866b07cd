#pragma once
// `sono doctor`: whether `sono train` with the same options would start on
// this machine, and why not, without training or writing anything. The
// report (JSON, docs/doctor.md lists its fields) holds the build, the CPU and
// GPUs, the asked precision's support, the dataset check
// (train/dataset_check.h), the peak-memory estimate (train/memory_estimate.h)
// against the memory available, and the step time of the newest matching
// benchmark (train/step_time.h).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace sono {

struct DoctorOptions {
  TrainOptions train;          // data_dir may be empty: no dataset check
  std::string device = "cpu";  // as given: an unknown one is reported, not thrown
  std::string precision = "tf32";
  std::string bench_dir = "bench/results";
};

struct DoctorReport {
  nlohmann::json json;
  // Why training would not start; empty = it would (exit 0).
  std::vector<std::string> problems;
  std::vector<std::string> warnings;  // worth knowing, not stopping it
};

// The options are checked first with train's validate() (the error names the
// option, its value and the range, and is thrown); everything after is reported.
DoctorReport run_doctor(const DoctorOptions& o);

// The report as a few lines a person reads.
std::string doctor_text(const DoctorReport& r);

}  // namespace sono
