// `sono info`: parameters per part and multiply-adds per task type.
#include <cstdio>

#include "model/counts.h"
#include "tasks/dataset.h"
#include "tools/sono/command.h"

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the model's parameter counts per part and multiply-adds per task");
  auto encoder = std::make_shared<std::string>("efficientnet-b4");
  auto size = std::make_shared<int64_t>(256);
  cmd->add_option("--encoder", *encoder, "Encoder variant (efficientnet-b0 .. efficientnet-b7)")->capture_default_str();
  cmd->add_option("--size", *size, "Input height and width")->capture_default_str();
  return [=] {
    sono::model::MultiTaskModelConfig cfg = sono::tasks::model_config();
    cfg.encoder = *encoder;
    sono::model::MultiTaskModel model(cfg);
    std::fputs(sono::model::model_info_table(model, *size, *size).c_str(), stdout);
    return 0;
  };
});
