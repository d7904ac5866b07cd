// `sono train`: train the multi-task model on a dataset folder.
#include <cstdio>

#include "dist/comm.h"
#include "tools/sono/command.h"
#include "train/trainer.h"

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "Train the multi-task model (the official recipe by default)");
  auto o = std::make_shared<sono::TrainOptions>();
  auto device = std::make_shared<std::string>("cpu");
  auto quiet = std::make_shared<bool>(false);
  auto precision = std::make_shared<std::string>("tf32");
  cmd->add_option("--data", o->data_dir, "Dataset folder holding csv_files/")->required();
  cmd->add_option("--out", o->out_dir, "Output folder (checkpoints, log.jsonl, curves.png)")->capture_default_str();
  cmd->add_option("--recipe", o->recipe,
                  "default: official recipe with the FPN decoder trained; official: decoder frozen as train.py")
      ->check(CLI::IsMember({"default", "official"}))
      ->capture_default_str();
  cmd->add_option("--encoder", o->encoder, "efficientnet-b0 .. efficientnet-b7")->capture_default_str();
  cmd->add_option("--pretrained", o->pretrained,
                  "Encoder weights (.safetensors or .pth; lukemelas/SMP, torchvision, timm)");
  cmd->add_option("--epochs", o->epochs, "Epochs")->capture_default_str();
  cmd->add_option("--batch", o->batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--size", o->image_size, "Input height and width (multiple of 32)")->capture_default_str();
  cmd->add_option("--lr", o->lr_encoder, "Encoder learning rate")->capture_default_str();
  cmd->add_option("--lr-heads", o->lr_heads, "Heads learning rate")->capture_default_str();
  cmd->add_option("--lr-decoder", o->lr_decoder, "Decoder learning rate (default recipe)")->capture_default_str();
  cmd->add_option("--eta-min", o->eta_min, "Cosine schedule floor")->capture_default_str();
  cmd->add_option("--weight-decay", o->weight_decay, "AdamW weight decay")->capture_default_str();
  cmd->add_option("--val-fraction", o->val_fraction, "Share of rows held out for validation")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the split, sampler, augmentation, init and dropout")
      ->capture_default_str();
  cmd->add_option("--device", *device, "cpu or cuda[:N]")->capture_default_str();
  sono::cli::add_precision_option(cmd, *precision);
  cmd->add_option("--workers", o->num_workers, "Loader threads")->capture_default_str();
  cmd->add_flag("!--no-cache", o->cache_images, "Do not keep resized images in memory between epochs");
  cmd->add_flag("--skip-bad-rows", o->skip_bad_rows,
                "Skip (and log) rows with bad input instead of stopping at the first one");
  cmd->add_option("--csv-order", o->csv_order,
                  "Order of csv_files/*.csv: sorted (by name) or directory (as listed by the file system, which "
                  "reproduces the official train.py's split on the same machine)")
      ->check(CLI::IsMember({"sorted", "directory"}))
      ->capture_default_str();
  cmd->add_option("--max-steps", o->max_steps, "Stop and checkpoint after this many steps in total");
  cmd->add_option("--bn-calibration", o->bn_calibration_batches,
                  "Before each validation, re-estimate BatchNorm statistics from N training batches (0: off, "
                  "as the official recipe; helps short runs)")
      ->capture_default_str();
  cmd->add_flag("--sync-bn", o->sync_bn,
                "Several ranks (mpirun): BatchNorm statistics over the global batch (default: each rank's own, as "
                "PyTorch DDP)");
  cmd->add_option("--dist-timeout", o->dist_timeout_s,
                  "Several ranks: seconds a rank waits for the others before failing the job, naming them")
      ->capture_default_str();
  cmd->add_option("--bucket-mb", o->bucket_mb, "Several ranks: gradient all-reduce bucket size in MB")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue from OUT/last.safetensors exactly");
  cmd->add_flag("--overwrite", o->overwrite, "Replace the run already in OUT (its files are removed first)");
  cmd->add_flag("--quiet", *quiet, "No progress bar");
  return [=] {
    o->device = sono::Device::parse(*device);
    sono::cli::apply_precision(*precision);
    o->progress = !*quiet;
    o->handle_signals = true;
    sono::TrainSummary s;
    try {
      s = sono::train_model(*o);
    } catch (const sono::TrainInterrupted& e) {
      std::fprintf(stderr, "sono: %s\n", e.what());
      return 128 + e.signal;  // as a shell reports a process the signal ended
    }
    if (sono::dist::launch_env().rank != 0) return 0;  // rank 0 reports for a data-parallel run
    std::printf("train: %lld steps, %lld epochs, best validation score %.4f (epoch %lld), %lld skipped rows, %.0f s\n",
                (long long)s.steps, (long long)s.epochs_completed, s.best_score, (long long)s.best_epoch,
                (long long)s.skipped_rows, s.seconds);
    return 0;
  };
});
