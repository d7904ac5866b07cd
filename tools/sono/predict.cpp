// `sono predict`: predictions in the challenge's submission layout.
#include <cstdio>

#include "data/dataset.h"
#include "tasks/dataset.h"
#include "tools/sono/command.h"
#include "train/model_io.h"
#include "train/predict.h"

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("predict", "Predict a dataset folder into the submission layout");
  struct Args {
    std::string data, weights, out, encoder, device = "cpu", precision = "tf32";
    int64_t size = 0, batch = 8;
    int workers = 2;
    bool quiet = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--data", a->data, "Dataset folder holding csv_files/")->required();
  cmd->add_option("--weights", a->weights, "Model weights: Sono .safetensors or an official best_model.pth")
      ->required();
  cmd->add_option("--out", a->out, "Output folder")->required();
  cmd->add_option("--encoder", a->encoder,
                  "Encoder variant (efficientnet-b0..b7) when the weights file does not say, as in an official "
                  "best_model.pth (default: recognised from its tensor shapes)");
  cmd->add_option("--size", a->size, "Input size (default: the one stored with the weights, else 256)");
  cmd->add_option("--batch", a->batch, "Rows per batch")->capture_default_str();
  cmd->add_option("--workers", a->workers, "Loader threads")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda[:N]")->capture_default_str();
  sono::cli::add_precision_option(cmd, a->precision);
  cmd->add_flag("--quiet", a->quiet, "No progress bar");
  return [=] {
    sono::cli::apply_precision(a->precision);
    sono::data::Dataset ds =
        sono::tasks::read_dataset(a->data, sono::data::OnBadRow::Stop, sono::data::Targets::Optional);
    sono::LoadedModel lm = sono::load_model_for_dataset(a->weights, ds, a->encoder);
    if (!lm.report.unexpected.empty())
      std::fprintf(stderr, "predict: %zu tensors of %s belong to no head of this dataset and were ignored\n",
                   lm.report.unexpected.size(), a->weights.c_str());
    sono::InferenceOptions o;
    o.device = sono::Device::parse(a->device);
    lm.model->to(o.device);
    o.image_size = a->size > 0 ? a->size : 256;
    auto size = lm.metadata.find("sono.image_size");
    if (a->size <= 0 && size != lm.metadata.end()) o.image_size = std::stoll(size->second);
    o.batch_size = a->batch;
    o.num_workers = a->workers;
    o.progress = !a->quiet;
    sono::PredictSummary s = sono::predict(*lm.model, ds, a->out, o);
    for (auto& [task, n] : s.per_task) std::printf("  %-28s %6lld rows\n", task.c_str(), (long long)n);
    std::printf("predict: %lld images in %.1f s (%.1f img/s) -> %s\n", (long long)s.images, s.seconds,
                s.seconds > 0 ? double(s.images) / s.seconds : 0.0, a->out.c_str());
    return 0;
  };
});
