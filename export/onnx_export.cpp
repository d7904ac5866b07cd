#include "export/onnx_export.h"

#include <onnx/checker.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/autograd.h"
#include "export/model_graph.h"
#include "io/atomic_file.h"
#include "tasks/task_kind.h"

namespace sono::onnx_export {

namespace fs = std::filesystem;

namespace {

void add_metadata(onnx::ModelProto& m, const std::string& key, const std::string& value) {
  auto* p = m.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

// Output dimensions of a task (-1: the batch).
std::vector<int64_t> output_dims(const model::TaskSpec& spec, int64_t batch, int64_t size) {
  const int64_t c = tasks::output_channels(spec);
  switch (spec.type) {
    case TaskType::Segmentation: return {batch, c, size, size};
    case TaskType::Detection: return {batch, c, size / 4, size / 4};
    default: return {batch, c};
  }
}

}  // namespace

onnx::ModelProto build_onnx_model(model::MultiTaskModel& model, const std::vector<std::string>& task_ids,
                                  const ExportOptions& options) {
  SONO_CHECK(options.image_size > 0 && options.image_size % 32 == 0, "onnx export", "--size ", options.image_size,
             " is not a positive multiple of 32 (the encoder halves it 5 times)");
  SONO_CHECK(!task_ids.empty(), "onnx export", "no task to export");
  for (const auto& id : task_ids)
    SONO_CHECK(model.tasks().contains(id), "onnx export", "the model has no task '", id, "'");
  const bool was_training = model.is_training();
  model.eval();  // names the mode the graph is in; nothing is run
  NoGradGuard no_grad;

  onnx::ModelProto m;
  m.set_ir_version(onnx::IR_VERSION);
  m.set_producer_name("sono");
  m.set_producer_version("0.1");
  m.set_domain("org.sono");
  m.set_model_version(1);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpsetVersion);
  onnx::GraphProto& graph = *m.mutable_graph();
  graph.set_name(task_ids.size() == 1 ? task_ids[0] : "sono_multitask");

  GraphBuilder g(graph);
  const int64_t batch = options.dynamic_batch ? -1 : 1, S = options.image_size;
  const std::string image = g.fresh("image");
  add_value_info(*graph.add_input(), image, {batch, 3, S, S}, "N");
  for (const auto& id : task_ids) SONO_CHECK(g.fresh(id) == id, "onnx export", "task id '", id, "' is used twice");

  ModelGraph mg(g);
  const std::vector<std::string> features = mg.encoder(model.encoder(), image);
  std::string decoded;
  nlohmann::json tasks_json = nlohmann::json::array();
  for (const auto& id : task_ids) {
    model::TaskHead& head = model.head(id);
    if (head.uses_decoder() && decoded.empty()) decoded = mg.decoder(model.decoder(), features);
    mg.head(head, head.uses_decoder() ? decoded : features.back(), id);
    const model::TaskSpec& spec = model.tasks().at(id);
    const tasks::TaskKind& kind = tasks::task_kind(spec.type);
    onnx::ValueInfoProto& out = *graph.add_output();
    add_value_info(out, id, output_dims(spec, batch, S), "N");
    tasks_json.push_back({id, kind.category(), spec.num_classes});
    if (task_ids.size() == 1) {
      add_metadata(m, "sono.task", id);
      add_metadata(m, "sono.kind", kind.category());
      add_metadata(m, "sono.num_classes", std::to_string(spec.num_classes));
      add_metadata(m, "sono.submission_file", kind.submission_file());
    }
  }
  add_metadata(m, "sono.tasks", tasks_json.dump());
  add_metadata(m, "sono.image_size", std::to_string(S));
  add_metadata(m, "sono.encoder", model.config().encoder);
  model.train(was_training);

  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    throw Error(str_cat("onnx export: the ONNX checker rejects the graph of ", graph.name(), ": ", e.what()));
  }
  return m;
}

std::vector<std::string> export_onnx(model::MultiTaskModel& model, const std::string& out_dir,
                                     std::vector<std::string> task_ids, bool all_heads, const ExportOptions& options) {
  if (task_ids.empty())
    for (const auto& t : model.tasks().tasks()) task_ids.push_back(t.id);
  for (const auto& id : task_ids)
    SONO_CHECK(model.tasks().contains(id), "export", "--task '", id, "': the model has no such task");
  fs::create_directories(out_dir);
  std::vector<std::pair<std::string, std::vector<std::string>>> files;
  if (all_heads) files.push_back({kAllHeadsFile, task_ids});
  else
    for (const auto& id : task_ids) files.push_back({id + ".onnx", {id}});
  std::vector<std::string> written;
  for (const auto& [name, ids] : files) {
    const onnx::ModelProto m = build_onnx_model(model, ids, options);
    std::string bytes;
    SONO_CHECK(m.SerializeToString(&bytes), "export", "could not serialise the ONNX model ", name,
               " (protobuf files are limited to 2 GiB)");
    const std::string path = (fs::path(out_dir) / name).string();
    nn::write_file_atomically(path, bytes);
    written.push_back(path);
  }
  return written;
}

}  // namespace sono::onnx_export
