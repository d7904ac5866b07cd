// `sono convert`: PyTorch checkpoints and other EfficientNet layouts to Sono's safetensors.
#include <cstdio>

#include "io/safetensors.h"
#include "model/key_maps.h"
#include "tools/sono/command.h"
#include "train/model_io.h"

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "convert",
      "Convert a checkpoint (.pth zip/legacy, or safetensors) into safetensors in Sono's layout: lukemelas/SMP, "
      "torchvision and timm EfficientNet encoders, or a whole official best_model.pth");
  struct Args {
    std::string in, out, layout = "auto", prefix;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("IN", a->in, "Input checkpoint")->required();
  cmd->add_option("OUT", a->out, "Output .safetensors")->required();
  cmd->add_option("--layout", a->layout,
                  "Source layout: auto, lukemelas (= smp), torchvision, timm, tf_efficientnet, official")
      ->capture_default_str();
  cmd->add_option("--prefix", a->prefix, "Prefix for the converted encoder keys (e.g. 'encoder.')");
  return [=] {
    sono::nn::SafetensorsFile f = sono::read_weights_file(a->in);
    std::vector<std::string> keys;
    for (auto& kv : f.tensors) keys.push_back(kv.first);
    sono::nn::EfficientNetLayout layout;
    if (a->layout == "auto") {
      layout = sono::nn::detect_efficientnet_layout(keys);
    } else {
      auto l = sono::nn::parse_efficientnet_layout(a->layout);
      if (!l) throw sono::Error("convert: unknown layout '" + a->layout + "'");
      layout = *l;
    }
    sono::nn::KeyMapReport report;
    auto tensors = sono::nn::convert_efficientnet_state_dict(f.tensors, layout, &report, a->prefix);
    sono::nn::write_safetensors(a->out, tensors,
                                {{"sono.source", a->in}, {"sono.layout", sono::nn::efficientnet_layout_name(layout)}});
    std::printf("%s\nconvert: wrote %zu tensors to %s\n", report.summary().c_str(), tensors.size(), a->out.c_str());
    return 0;
  };
});
