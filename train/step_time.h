#pragma once
// `sono doctor`'s step-time estimate: the newest benchmark result of the same
// encoder, input size and device kind among the JSON files the benchmarks
// write (tools/bench_compare.sh: bench/results/<machine>-<date>.json, its
// "model train <seg|cls|det|reg>" workloads; `sono bench --per-task --json FILE`:
// its tasks), scaled linearly from the benchmark's batch to the asked one.
#include <cstdint>
#include <string>
#include <vector>

namespace sono {

struct BenchStep {
  std::string what;      // "seg" (bench_compare's workload) or a task id (sono bench)
  int64_t batch = 0;     // the benchmark's batch
  double ms = 0;         // its median ms per training step
  double scaled_ms = 0;  // ms * asked batch / batch
};

struct StepTimeEstimate {
  std::string file;  // the results file used; empty when none matched
  std::string time;  // when it was measured (its time_utc/date), if it says
  std::vector<BenchStep> steps;
  // Why nothing was found: "no benchmark results in DIR" or "none of the N
  // results files in DIR is of <encoder> at <size> on <device>".
  std::string missing;
};

// `device_kind`: "cpu" or "cuda". Unreadable or foreign JSON files are passed over.
StepTimeEstimate estimate_step_time(const std::string& results_dir, const std::string& encoder, int64_t size,
                                    int64_t batch, const std::string& device_kind);

}  // namespace sono
