#include "train/doctor.h"

#include <cblas.h>

#include <cstdio>
#include <optional>

#include "core/build_info.h"
#include "core/device_info.h"
#include "core/precision.h"
#include "tasks/dataset.h"
#include "train/dataset_check.h"
#include "train/memory_estimate.h"
#include "train/step_time.h"

namespace sono {

namespace {

using nlohmann::json;

// How many bad rows the report names (all are counted).
constexpr size_t kBadRowsShown = 20;

std::string gib(double bytes) {
  char buf[32];
  if (bytes < double(1 << 30)) std::snprintf(buf, sizeof buf, "%.0f MiB", bytes / (1 << 20));
  else if (bytes < double(uint64_t(1) << 40)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1 << 30));
  else std::snprintf(buf, sizeof buf, "%.1f TiB", bytes / double(uint64_t(1) << 40));
  return buf;
}

json build_json() {
  const BuildInfo b = build_info();
  return {{"version", b.version},
          {"cuda", b.cuda},
          {"compiler", b.compiler},
          {"avx2", {{"compiled", b.compiled_avx2}, {"cpu", b.cpu_avx2}}},
          {"fma", {{"compiled", b.compiled_fma}, {"cpu", b.cpu_fma}}},
          {"cpu_threads", b.cpu_threads},
          {"blas", {{"name", "OpenBLAS"}, {"config", openblas_get_config()}, {"threads", openblas_get_num_threads()}}}};
}

json cuda_json(const CudaInfo& c) {
  json devices = json::array();
  for (const GpuInfo& g : c.devices)
    devices.push_back({{"index", g.index},
                       {"name", g.name},
                       {"compute_capability", str_cat(g.major, ".", g.minor)},
                       {"sms", g.sms},
                       {"memory_free_bytes", g.free_bytes},
                       {"memory_total_bytes", g.total_bytes},
                       {"error", g.error}});
  return {{"compiled", c.compiled}, {"runtime", c.runtime}, {"driver", c.driver}, {"cudnn", c.cudnn},
          {"cublas", c.cublas},     {"devices", devices},   {"error", c.error}};
}

// The precision on the device: {name, supported, note}; a problem when training would refuse it.
json precision_json(const std::string& name, const Device* device, const GpuInfo* gpu, DoctorReport& r) {
  json p = {{"name", name}, {"supported", true}, {"note", ""}};
  Precision asked = Precision::FP32;
  try {
    asked = parse_precision(name, "--precision");
  } catch (const Error& e) {
    p["supported"] = false;
    p["note"] = e.what();
    r.problems.push_back(e.what());
    return p;
  }
  if (device && device->is_cuda() && !gpu) {
    p["supported"] = nullptr;
    p["note"] = "not checked: no usable GPU";
  } else if (device && device->is_cpu()) {
    if (asked == Precision::TF32)
      p["note"] = "the CPU always computes strict fp32 (tf32 only changes cuDNN/cuBLAS on a GPU)";
    else if (asked == Precision::BF16)
      p["note"] =
          "mixed precision (docs/precision.md): bf16 storage computed in float32 math on the CPU, slower than fp32 "
          "there (conversions)";
  } else if (gpu && asked == Precision::BF16 && gpu->major < 8) {
    p["supported"] = false;
    p["note"] = str_cat("bf16 convolutions and matrix products need compute capability 8.0+, ", gpu->name, " has ",
                        gpu->major, ".", gpu->minor, " (use --precision fp32)");
    r.problems.push_back("--precision bf16: " + p["note"].get<std::string>());
  } else if (gpu && asked == Precision::TF32 && !has_tensor_core_tf32(*gpu)) {
    p["supported"] = false;
    p["note"] = str_cat("TF32 needs compute capability 8.0+, ", gpu->name, " has ", gpu->major, ".", gpu->minor,
                        ": cuDNN and cuBLAS compute strict fp32 instead");
    r.warnings.push_back("--precision tf32: " + p["note"].get<std::string>());
  }
  return p;
}

json dataset_json(const DatasetCheck& d, DoctorReport& r) {
  json tasks = json::array();
  for (const TaskRows& t : d.tasks)
    tasks.push_back({{"id", t.id},
                     {"type", task_type_name(t.type)},
                     {"num_classes", t.num_classes},
                     {"train", t.train},
                     {"val", t.val}});
  json bad = json::array();
  for (size_t i = 0; i < d.bad_rows.size() && i < kBadRowsShown; ++i)
    bad.push_back({{"file", d.bad_rows[i].file}, {"line", d.bad_rows[i].line}, {"reason", d.bad_rows[i].reason}});
  for (const std::string& p : d.problems) r.problems.push_back("dataset: " + p);
  for (const std::string& w : d.warnings) r.warnings.push_back("dataset: " + w);
  return {{"csv_files", d.csv_files},
          {"rows", d.rows},
          {"train_rows", d.train_rows},
          {"val_rows", d.val_rows},
          {"steps_per_epoch", d.steps_per_epoch},
          {"split_fingerprint", d.split_fingerprint},
          {"tasks", tasks},
          {"bad_row_count", d.bad_rows.size()},
          {"bad_rows", bad},
          {"warnings", d.warnings},
          {"problems", d.problems}};
}

json memory_json(const MemoryEstimate& m, uint64_t available, const std::string& where, DoctorReport& r) {
  json tasks = json::array();
  for (const TaskMemory& t : m.tasks)
    tasks.push_back({{"id", t.id},
                     {"type", task_type_name(t.type)},
                     {"peak_bytes", t.peak_bytes},
                     {"activation_bytes", t.activation_bytes},
                     {"gradient_bytes", t.gradient_bytes}});
  json j = {{"peak_bytes", m.peak_bytes},
            {"peak_task", m.peak_task},
            {"state_bytes", m.state_bytes},
            {"device_reserve_bytes", m.device_reserve},
            {"parameters", m.parameters},
            {"tolerance", kMemoryEstimateTolerance},
            {"available_bytes", available},
            {"available_source", where},
            {"fits", available == 0 || m.peak_bytes <= available},
            {"tasks", tasks}};
  if (available > 0 && m.peak_bytes > available)
    r.problems.push_back(str_cat("memory: the estimated peak of a training step, ", gib(double(m.peak_bytes)),
                                 " (task ", m.peak_task, ", --batch ", m.batch, " --size ", m.image_size,
                                 "), exceeds the ", gib(double(available)), " available (", where,
                                 "); lower --batch or --size"));
  return j;
}

json step_time_json(const StepTimeEstimate& s) {
  json steps = json::array();
  for (const BenchStep& b : s.steps)
    steps.push_back({{"what", b.what}, {"batch", b.batch}, {"ms", b.ms}, {"scaled_ms", b.scaled_ms}});
  return {{"file", s.file}, {"time", s.time}, {"steps", steps}, {"missing", s.missing}};
}

}  // namespace

DoctorReport run_doctor(const DoctorOptions& o) {
  // The options as `sono train` checks them, worded for this command.
  TrainOptions t = o.train;
  if (t.data_dir.empty()) t.data_dir = "-";  // no dataset check, nothing else to validate
  try {
    validate(t);
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind("train: ", 0) == 0) msg = msg.substr(7);
    throw Error("doctor: " + msg);
  }

  DoctorReport r;
  json& j = r.json;
  j["build"] = build_json();
  const HostMemory host = host_memory();
  j["cpu"] = {{"threads", build_info().cpu_threads},
              {"memory_total_bytes", host.total},
              {"memory_available_bytes", host.available}};
  const CudaInfo cuda = cuda_info();
  j["cuda"] = cuda_json(cuda);

  // The asked device: what training would run on, and its free memory.
  std::optional<Device> device;
  const GpuInfo* gpu = nullptr;
  uint64_t available = host.available;
  std::string where = "MemAvailable of /proc/meminfo";
  try {
    device = Device::parse(o.device);
  } catch (const Error& e) {
    r.problems.push_back(str_cat("--device '", o.device, "': ", e.what()));
  }
  if (device && device->is_cuda()) {
    if (!cuda.compiled) {
      r.problems.push_back(str_cat("--device ", o.device, ": ", cuda.error));
    } else if (cuda.devices.empty()) {
      r.problems.push_back(str_cat("--device ", o.device, ": ", cuda.error, "; run on cpu"));
    } else if (device->index >= int(cuda.devices.size())) {
      r.problems.push_back(str_cat("--device ", o.device, ": ", cuda.devices.size(), " CUDA device",
                                   cuda.devices.size() == 1 ? "" : "s",
                                   " found (cuda:0 .. cuda:", cuda.devices.size() - 1, ")"));
    } else {
      gpu = &cuda.devices[size_t(device->index)];
      if (!gpu->error.empty()) r.problems.push_back(str_cat("--device ", o.device, ": ", gpu->error));
      available = gpu->free_bytes;
      where = str_cat("free memory of ", device->str(), ", cudaMemGetInfo");
    }
  }
  const bool device_usable = device && (device->is_cpu() || gpu);
  j["device"] = {{"asked", o.device}, {"usable", device_usable}};
  j["precision"] = precision_json(o.precision, device ? &*device : nullptr, gpu, r);

  // The dataset, read as training would read it.
  model::TaskRegistry registry = model::TaskRegistry::official();
  if (!o.train.data_dir.empty()) {
    const DatasetCheck d = check_dataset(o.train);
    j["dataset"] = dataset_json(d, r);
    j["dataset"]["dir"] = o.train.data_dir;
    if (!d.tasks.empty()) {
      registry = model::TaskRegistry();
      for (const TaskRows& tr : d.tasks) registry.add({tr.id, tr.type, tr.num_classes});
    }
  } else {
    j["dataset"] = nullptr;
  }

  // Peak memory of the model training would build (the dataset's tasks, else the official 27).
  {
    model::MultiTaskModelConfig cfg = tasks::model_config();
    cfg.encoder = o.train.encoder;
    cfg.tasks = registry;
    const model::MultiTaskModel model(cfg);
    const Device kind = device_usable ? *device : Device::cpu();
    const MemoryEstimate m = estimate_training_memory(model, o.train.image_size, o.train.batch_size, kind);
    j["memory"] = memory_json(m, device_usable ? available : 0, where, r);
  }
  j["step_time"] = step_time_json(estimate_step_time(o.bench_dir, o.train.encoder, o.train.image_size,
                                                     o.train.batch_size, device && device->is_cuda() ? "cuda" : "cpu"));
  j["asked"] = {{"encoder", o.train.encoder},
                {"size", o.train.image_size},
                {"batch", o.train.batch_size},
                {"device", o.device},
                {"precision", o.precision}};
  j["problems"] = r.problems;
  j["warnings"] = r.warnings;
  j["ok"] = r.problems.empty();
  return r;
}

std::string doctor_text(const DoctorReport& r) {
  const json& j = r.json;
  std::string s;
  auto line = [&](const std::string& l) { s += l + "\n"; };
  const json& b = j["build"];
  auto feature = [&](const char* name) {
    const json& f = b[name];
    return str_cat(name, f["compiled"].get<bool>() ? " (compiled in" : " (not compiled in",
                   f["cpu"].get<bool>() ? ", CPU has it)" : ", CPU lacks it)");
  };
  line(str_cat("build:    sono ", b["version"].get<std::string>(), ", CUDA ",
               b["cuda"].get<bool>() ? "compiled in" : "not compiled", ", ", feature("avx2"), ", ", feature("fma"),
               ", ", b["cpu_threads"].get<int>(), " CPU threads, ", b["blas"]["config"].get<std::string>()));
  line(str_cat("cpu:      ", gib(j["cpu"]["memory_available_bytes"].get<double>()), " available of ",
               gib(j["cpu"]["memory_total_bytes"].get<double>())));
  const json& c = j["cuda"];
  if (!c["compiled"].get<bool>()) {
    line("cuda:     " + c["error"].get<std::string>());
  } else {
    line(str_cat("cuda:     runtime ", c["runtime"].get<std::string>(), ", driver ", c["driver"].get<std::string>(),
                 ", cuDNN ", c["cudnn"].get<std::string>(), ", cuBLAS ", c["cublas"].get<std::string>()));
    if (c["devices"].empty()) line("          " + c["error"].get<std::string>());
    for (const json& g : c["devices"])
      line(str_cat("  cuda:", g["index"].get<int>(), "   ", g["name"].get<std::string>(), ", compute capability ",
                   g["compute_capability"].get<std::string>(), ", ", g["sms"].get<int>(), " SMs, ",
                   gib(g["memory_free_bytes"].get<double>()), " free of ", gib(g["memory_total_bytes"].get<double>()),
                   g["error"].get<std::string>().empty() ? "" : " (" + g["error"].get<std::string>() + ")"));
  }
  const json& p = j["precision"];
  line(str_cat("asked:    ", j["asked"]["encoder"].get<std::string>(), " at ", j["asked"]["size"].get<int64_t>(), "x",
               j["asked"]["size"].get<int64_t>(), ", batch ", j["asked"]["batch"].get<int64_t>(), ", device ",
               j["asked"]["device"].get<std::string>(), ", precision ", p["name"].get<std::string>(),
               p["supported"].is_null()     ? " ("
               : p["supported"].get<bool>() ? " (supported"
                                            : " (NOT supported",
               p["note"].get<std::string>().empty() ? ")"
               : p["supported"].is_null()           ? p["note"].get<std::string>() + ")"
                                                    : ": " + p["note"].get<std::string>() + ")"));
  if (j["dataset"].is_object()) {
    const json& d = j["dataset"];
    if (d["csv_files"].empty()) line(str_cat("dataset:  ", d["dir"].get<std::string>(), ": not read (below)"));
    else
      line(str_cat("dataset:  ", d["dir"].get<std::string>(), ": ", d["csv_files"].size(), " CSV files, ",
                   d["rows"].get<int64_t>(), " usable rows (", d["train_rows"].get<int64_t>(), " train, ",
                   d["val_rows"].get<int64_t>(), " val, split ", d["split_fingerprint"].get<std::string>(), "), ",
                   d["steps_per_epoch"].get<int64_t>(), " steps per epoch, ", d["bad_row_count"].get<size_t>(),
                   d["bad_row_count"] == 1 ? " bad row" : " bad rows"));
    for (const json& t : d["tasks"])
      line(str_cat("  ", t["id"].get<std::string>(), " (", t["type"].get<std::string>(), ", ",
                   t["num_classes"].get<int64_t>(),
                   t["type"] == "Regression" ? " points"
                   : t["num_classes"] == 1   ? " class"
                                             : " classes",
                   "): ", t["train"].get<int64_t>(), " train, ", t["val"].get<int64_t>(), " val"));
    for (const json& bad : d["bad_rows"]) line(str_cat("  bad row: ", bad["reason"].get<std::string>()));
    if (d["bad_row_count"].get<size_t>() > d["bad_rows"].size())
      line(str_cat("  ... and ", d["bad_row_count"].get<size_t>() - d["bad_rows"].size(), " more bad rows"));
  } else {
    line("dataset:  not checked (no --data)");
  }
  const json& m = j["memory"];
  const double available = m["available_bytes"].get<double>();
  line(str_cat("memory:   estimated peak ", gib(m["peak_bytes"].get<double>()), " per training step (task ",
               m["peak_task"].get<std::string>(), ", +-", int(100 * m["tolerance"].get<double>()), "%; ",
               m["parameters"].get<int64_t>(), " parameters)",
               available > 0
                   ? str_cat(", ", gib(available), " available (", m["available_source"].get<std::string>(), ")")
                   : std::string()));
  const json& st = j["step_time"];
  if (st["steps"].empty()) {
    line("step:     " + st["missing"].get<std::string>());
  } else {
    std::string steps;
    for (const json& x : st["steps"]) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%s%s %.0f ms", steps.empty() ? "" : ", ", x["what"].get<std::string>().c_str(),
                    x["scaled_ms"].get<double>());
      steps += buf;
    }
    line(str_cat("step:     ", steps, " per training step at batch ", j["asked"]["batch"].get<int64_t>(),
                 " (scaled linearly from batch ", st["steps"][0]["batch"].get<int64_t>(), " of ",
                 st["file"].get<std::string>(), st["time"].get<std::string>().empty() ? "" : ", ",
                 st["time"].get<std::string>(), ")"));
  }
  for (const std::string& w : r.warnings) line("warning:  " + w);
  if (r.problems.empty()) {
    line("doctor:   training would start");
  } else {
    line(str_cat("doctor:   training would NOT start (", r.problems.size(), " problem",
                 r.problems.size() == 1 ? "" : "s", "):"));
    for (const std::string& p : r.problems) line("  - " + p);
  }
  return s;
}

}  // namespace sono
