// `sono export`: ONNX files of a model (export/onnx_export.h, docs/export.md).
#include <cstdio>

#include "model/efficientnet_config.h"
#include "tools/sono/command.h"
#include "train/model_io.h"
#if SONO_WITH_ONNX
#include "export/onnx_export.h"
#endif

namespace {

// The model of a weights file alone: its tasks come from its metadata, or for
// an official best_model.pth (no metadata) they are the 27 official tasks.
sono::LoadedModel load_for_export(const std::string& weights, const std::string& encoder) {
  sono::data::Dataset tasks_only;
  const sono::nn::SafetensorsFile file = sono::read_weights_file(weights);
  if (file.metadata.count("sono.tasks") == 0)
    for (const auto& t : sono::model::official_tasks()) tasks_only.tasks.push_back({t.id, t.type, t.num_classes});
  return sono::load_model_for_dataset(weights, tasks_only, encoder);
}

}  // namespace

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Export a model to ONNX (opset 17) for ONNX Runtime (docs/export.md)");
  struct Args {
    std::string weights, out, encoder;
    std::vector<std::string> tasks;
    int64_t size = 0;
    bool dynamic_batch = false, all_heads = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--weights", a->weights, "Model weights: Sono .safetensors or an official best_model.pth")
      ->required();
  cmd->add_option("--out", a->out, "Output folder (one <task>.onnx per task, or model.onnx with --all-heads)")
      ->required();
  cmd->add_option("--task", a->tasks, "Task id to export (repeatable; default: every task of the model)");
  cmd->add_option("--size", a->size,
                  "Input size S of the [N, 3, S, S] image, a positive multiple of 32 (default: the one stored with "
                  "the weights, else 256)");
  cmd->add_flag("--dynamic-batch", a->dynamic_batch, "A symbolic batch dimension N (default: N = 1)");
  cmd->add_flag("--all-heads", a->all_heads,
                "One file with the shared encoder/decoder and every exported head as a named output");
  cmd->add_option("--encoder", a->encoder,
                  "Encoder variant when the weights file does not say (default: recognised from its tensor shapes)");
  return [=]() -> int {
#if SONO_WITH_ONNX
    if (!a->encoder.empty()) sono::model::efficientnet_config(a->encoder);  // throws naming a bad variant
    sono::LoadedModel lm = load_for_export(a->weights, a->encoder);
    SONO_CHECK(a->encoder.empty() || lm.model->config().encoder == a->encoder, "export", "--encoder ", a->encoder,
               " disagrees with ", a->weights, ", which holds an ", lm.model->config().encoder, " model");
    std::vector<std::string> ids = a->tasks;
    if (ids.empty())
      for (const auto& t : lm.model->tasks().tasks()) ids.push_back(t.id);
    std::string known;
    for (const auto& t : lm.model->tasks().tasks()) known += (known.empty() ? "" : ", ") + t.id;
    for (const auto& id : ids) {
      SONO_CHECK(lm.model->tasks().contains(id), "export", "--task '", id, "': ", a->weights,
                 " has no such task (its tasks: ", known, ")");
      for (const auto& key : lm.report.missing)
        SONO_CHECK(key.rfind("heads." + id + ".", 0) != 0, "export", a->weights, " has no tensor '", key,
                   "' of the head of task '", id, "'");
    }
    sono::onnx_export::ExportOptions o;
    o.image_size = 256;
    auto stored = lm.metadata.find("sono.image_size");
    if (cmd->count("--size") > 0) o.image_size = a->size;
    else if (stored != lm.metadata.end()) o.image_size = std::stoll(stored->second);  // checked by the loader
    o.dynamic_batch = a->dynamic_batch;
    const auto files = sono::onnx_export::export_onnx(*lm.model, a->out, ids, a->all_heads, o);
    for (const auto& f : files) std::printf("  %s\n", f.c_str());
    std::printf("export: %zu ONNX file(s), opset %lld, input image [%s, 3, %lld, %lld] -> %s\n", files.size(),
                (long long)sono::onnx_export::kOpsetVersion, o.dynamic_batch ? "N" : "1", (long long)o.image_size,
                (long long)o.image_size, a->out.c_str());
    return 0;
#else
    (void)load_for_export;
    throw sono::Error(
        "export: this sono was built without ONNX (CMake found no libonnx-dev / libprotobuf-dev; run "
        "tools/setup.sh and reconfigure)");
#endif
  };
});
