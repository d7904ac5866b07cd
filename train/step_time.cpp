#include "train/step_time.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sono {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool is_device(const json& v, const std::string& kind) {
  return v.is_string() && v.get<std::string>().compare(0, kind.size(), kind) == 0;
}

// The training steps of one results file that match, in either format.
std::vector<BenchStep> matching_steps(const json& j, const std::string& encoder, int64_t size,
                                      const std::string& kind) {
  std::vector<BenchStep> out;
  if (j.contains("workloads") && j.contains("settings")) {  // tools/bench_compare.py
    const json& s = j["settings"];
    if (s.value("encoder", "") != encoder || s.value("size", int64_t(0)) != size) return out;
    for (const json& w : j["workloads"]) {
      const std::string name = w.value("name", "");
      if (name.rfind("model train ", 0) != 0 || !is_device(w.value("device", json()), kind)) continue;
      const json sono = w.value("sono", json::object());
      if (!sono.is_object() || !sono.contains("median_ms") || !sono["median_ms"].is_number()) continue;
      out.push_back({name.substr(12), w.value("batch", int64_t(0)), sono["median_ms"].get<double>(), 0});
    }
  } else if (j.contains("tasks") && j.contains("encoder")) {  // sono bench --per-task --json
    if (j.value("encoder", "") != encoder || j.value("size", int64_t(0)) != size ||
        !is_device(j.value("device", json()), kind))
      return out;
    for (const json& t : j["tasks"])
      if (t.contains("ms_per_step") && t["ms_per_step"].is_number())
        out.push_back({t.value("id", "?"), t.value("batch", int64_t(0)), t["ms_per_step"].get<double>(), 0});
  }
  return out;
}

}  // namespace

StepTimeEstimate estimate_step_time(const std::string& dir, const std::string& encoder, int64_t size, int64_t batch,
                                    const std::string& kind) {
  StepTimeEstimate r;
  std::error_code ec;
  int files = 0;
  std::string newest_time;
  if (fs::is_directory(dir, ec)) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() != ".json" || !entry.is_regular_file(ec)) continue;
      ++files;
      json j;
      try {
        std::ifstream in(entry.path());
        j = json::parse(in);
      } catch (const std::exception&) {
        continue;
      }
      if (!j.is_object()) continue;
      std::vector<BenchStep> steps;
      try {
        steps = matching_steps(j, encoder, size, kind);
      } catch (const std::exception&) {
        continue;  // a field of another type: not a results file of ours
      }
      if (steps.empty()) continue;
      // The newest by its own timestamp (ISO 8601 sorts as text), else by name.
      const std::string t = j.value("time_utc", j.value("date", std::string()));
      const std::string key = t + "|" + entry.path().filename().string();
      if (!r.file.empty() && key <= newest_time) continue;
      newest_time = key;
      r.file = entry.path().string();
      r.time = t;
      r.steps = steps;
    }
  }
  if (r.file.empty()) {
    r.missing = files == 0 ? str_cat("no benchmark results in ", dir)
                           : str_cat("none of the ", files, " results files in ", dir, " is of ", encoder, " at ", size,
                                     "x", size, " on ", kind);
    return r;
  }
  for (BenchStep& s : r.steps) s.scaled_ms = s.batch > 0 ? s.ms * double(batch) / double(s.batch) : s.ms;
  return r;
}

}  // namespace sono
