#pragma once
// `sono train`: the baseline's training recipe (docs/reference-model.md 6) on the engine.
//
// Default recipe = the official one except that the FPN decoder is trained
// (its own parameter group at the heads' learning rate); `official` leaves the
// decoder out of the optimizer exactly as train.py does. Each epoch: the
// sampler's single-task batches with augmentation, AdamW, then the official
// validation score on the held-out 20%, the best model kept by that score,
// and the cosine schedule stepped (the stages are in train/trainer.cpp). Files
// written to out_dir (curves.png, summary.json and log.jsonl's end record on
// every exit: all epochs, --max-steps, or an error, which is then raised):
//   log.jsonl        one JSON object per step and per epoch (plottable)
//   last.safetensors model + optimizer + trainer state (for --resume)
//   best.safetensors model with the best validation score (for predict)
//   curves.png       training loss and validation score curves
//   summary.json     final figures, the stop reason and every skipped input row
#include <string>

#include "core/device.h"
#include "core/error.h"

namespace sono {

struct TrainOptions {
  std::string data_dir;
  // Order of data_dir/csv_files/*.csv: "sorted" or "directory" (readdir's, as the official train.py's glob).
  std::string csv_order = "sorted";
  std::string out_dir = "runs/train";
  std::string recipe = "default";  // or "official"
  std::string encoder = "efficientnet-b4";
  std::string pretrained;  // encoder weights (safetensors / .pth); empty = random init
  int64_t epochs = 50;
  int64_t batch_size = 20;
  int64_t image_size = 256;
  double lr_encoder = 1e-4;
  double lr_heads = 1e-3;
  double lr_decoder = 1e-3;  // default recipe only
  double eta_min = 1e-6;
  double weight_decay = 0.01;
  double val_fraction = 0.2;
  int64_t val_batch_size = 8;
  uint64_t seed = 42;
  Device device = Device::cpu();
  int num_workers = 2;
  bool cache_images = true;
  bool skip_bad_rows = false;  // false: stop at the first bad row with its file and line
  int64_t max_steps = -1;      // stop (and checkpoint) after this many steps in total
  bool resume = false;         // continue from out_dir/last.safetensors
  bool overwrite = false;      // out_dir may hold another run: its files are removed first
  // SIGINT/SIGTERM stop after the current step, checkpointed (train/stop_signal.h).
  bool handle_signals = false;
  bool progress = true;
  int64_t log_every = 1;  // steps between step records in log.jsonl
  // Before each validation, re-estimate BatchNorm statistics from this many
  // training batches (train/bn_calibration.h); 0 = off, as the official recipe.
  int64_t bn_calibration_batches = 0;
  // Data-parallel training (docs/distributed.md); a single process ignores them.
  bool sync_bn = false;         // BatchNorm statistics over all ranks (else each rank's own, as DDP)
  double dist_timeout_s = 300;  // a rank that does not answer within this fails the job, named
  int64_t bucket_mb = 25;       // gradient all-reduce bucket size
};

struct TrainSummary {
  int64_t steps = 0;  // optimizer steps done in total (including before a resume)
  int64_t epochs_completed = 0;
  double best_score = -1;
  int64_t best_epoch = -1;
  double last_loss = 0;
  int64_t skipped_rows = 0;
  double seconds = 0;
};

// Every option against its allowed range; throws sono::Error naming the
// option (as `sono train` spells it), its value and the range. train_model
// calls it first.
void validate(const TrainOptions& opt);

// Training stopped by SIGINT/SIGTERM after a checkpoint; the message says how
// to resume. `sono train` exits with 128 + signal.
class TrainInterrupted : public Error {
 public:
  TrainInterrupted(const std::string& msg, int sig) : Error(msg), signal(sig) {}
  int signal;
};

TrainSummary train_model(const TrainOptions& opt);

}  // namespace sono
