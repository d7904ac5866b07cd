// `sono predict`: predictions in the challenge's submission layout.
#include <cstdio>

#include "data/dataset.h"
#include "model/efficientnet_config.h"
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
    bool quiet = false, no_fold_bn = false;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--data", a->data, "Dataset folder holding csv_files/")->required();
  cmd->add_option("--weights", a->weights, "Model weights: Sono .safetensors or an official best_model.pth")
      ->required();
  cmd->add_option("--out", a->out, "Output folder")->required();
  cmd->add_option("--encoder", a->encoder,
                  "Encoder variant (efficientnet-b0..b7) when the weights file does not say, as in an official "
                  "best_model.pth (default: recognised from its tensor shapes); naming another variant than the "
                  "file states is an error");
  cmd->add_option("--size", a->size,
                  "Input size, a positive multiple of 32 (default: the one stored with the weights, else 256)");
  cmd->add_option("--batch", a->batch, "Rows per batch")->capture_default_str();
  cmd->add_option("--workers", a->workers, "Loader threads")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda[:N]")->capture_default_str();
  sono::cli::add_precision_option(cmd, a->precision);
  cmd->add_flag("--quiet", a->quiet, "No progress bar");
  cmd->add_flag("--no-fold-bn", a->no_fold_bn,
                "Run the BatchNorms as they are instead of folded into their convolutions (for comparing)");
  return [=] {
    // Options are checked before anything is read: a bad one is named with its value and range.
    const bool size_given = cmd->count("--size") > 0;
    sono::check_predict_options(size_given ? a->size : 256, a->batch, a->workers);
    if (!a->encoder.empty()) {
      try {
        sono::model::efficientnet_config(a->encoder);
      } catch (const sono::Error& e) {
        throw sono::Error(sono::str_cat("predict: --encoder '", a->encoder, "' is not a known encoder: ", e.what()));
      }
    }
    sono::cli::apply_precision(a->precision);
    sono::data::Dataset ds =
        sono::tasks::read_dataset(a->data, sono::data::OnBadRow::Stop, sono::data::Targets::Optional);
    sono::LoadedModel lm = sono::load_model_for_dataset(a->weights, ds, a->encoder);
    SONO_CHECK(a->encoder.empty() || lm.model->config().encoder == a->encoder, "predict", "--encoder ", a->encoder,
               " disagrees with ", a->weights, ", which holds an ", lm.model->config().encoder,
               " model (drop --encoder, or use weights of that variant)");
    if (!lm.report.unexpected.empty())
      std::fprintf(stderr, "predict: %zu tensors of %s belong to no head of this dataset and were ignored\n",
                   lm.report.unexpected.size(), a->weights.c_str());
    sono::InferenceOptions o;
    o.device = sono::Device::parse(a->device);
    lm.model->to(o.device);
    o.image_size = 256;
    auto stored = lm.metadata.find("sono.image_size");
    if (size_given) {
      o.image_size = a->size;
    } else if (stored != lm.metadata.end()) {
      int64_t v = 0;
      try {
        v = std::stoll(stored->second);
      } catch (const std::exception&) {
      }
      SONO_CHECK(v > 0 && v % 32 == 0, "predict", a->weights, ": metadata sono.image_size '", stored->second,
                 "' is not a positive multiple of 32; give --size");
      o.image_size = v;
    }
    o.batch_size = a->batch;
    o.num_workers = a->workers;
    o.progress = !a->quiet;
    sono::PredictSummary s = sono::predict(*lm.model, ds, a->out, o, !a->no_fold_bn);
    for (auto& [task, n] : s.per_task) std::printf("  %-28s %6lld rows\n", task.c_str(), (long long)n);
    std::printf("predict: %lld images in %.1f s (%.1f img/s) -> %s\n", (long long)s.images, s.seconds,
                s.seconds > 0 ? double(s.images) / s.seconds : 0.0, a->out.c_str());
    return 0;
  };
});
