// validate(const TrainOptions&): the one place `sono train`'s options are checked.
#include <cmath>
#include <filesystem>

#include "train/trainer.h"

namespace sono {

namespace {

void check_int(const char* option, int64_t v, int64_t lo, int64_t hi) {
  SONO_CHECK(v >= lo && v <= hi, "train", option, " ", v, ": must be an integer in ", lo, "..", hi);
}

void check_real(const char* option, double v, double lo, double hi, const char* range) {
  SONO_CHECK(std::isfinite(v) && v >= lo && v <= hi, "train", option, " ", v, ": must be ", range);
}

}  // namespace

void validate(const TrainOptions& o) {
  SONO_CHECK(!o.data_dir.empty(), "train", "--data: no dataset folder given");
  SONO_CHECK(!o.out_dir.empty(), "train", "--out: no output folder given");
  SONO_CHECK(o.recipe == "default" || o.recipe == "official", "train", "--recipe '", o.recipe,
             "': must be default or official");
  bool known_encoder = false;
  for (int i = 0; i <= 7; ++i) known_encoder |= o.encoder == str_cat("efficientnet-b", i);
  SONO_CHECK(known_encoder, "train", "--encoder '", o.encoder, "': must be one of efficientnet-b0 .. efficientnet-b7");
  check_int("--epochs", o.epochs, 1, 100000);
  check_int("--batch", o.batch_size, 1, 4096);
  SONO_CHECK(o.image_size >= 32 && o.image_size <= 4096 && o.image_size % 32 == 0, "train", "--size ", o.image_size,
             ": must be a positive multiple of 32 in 32..4096");
  check_real("--lr", o.lr_encoder, 0, 10, "a number in 0..10");
  check_real("--lr-heads", o.lr_heads, 0, 10, "a number in 0..10");
  check_real("--lr-decoder", o.lr_decoder, 0, 10, "a number in 0..10");
  check_real("--eta-min", o.eta_min, 0, 10, "a number in 0..10");
  check_real("--weight-decay", o.weight_decay, 0, 1e3, "a number in 0..1000");
  SONO_CHECK(std::isfinite(o.val_fraction) && o.val_fraction >= 0 && o.val_fraction < 1, "train", "--val-fraction ",
             o.val_fraction, ": must be a number in [0, 1)");
  check_int("validation batch size", o.val_batch_size, 1, 4096);
  check_int("--workers", o.num_workers, 0, 1000000);  // above the loader's cap: capped with a message
  // --max-steps 0 would stop before the first step; a run that trains nothing is
  // a mistake, not a request (-1, the default, means no limit).
  SONO_CHECK(o.max_steps == -1 || o.max_steps >= 1, "train", "--max-steps ", o.max_steps,
             ": must be an integer >= 1 (leave it out for no limit)");
  check_int("--bn-calibration", o.bn_calibration_batches, 0, 100000);
  check_int("log_every", o.log_every, 0, int64_t(1) << 40);
  check_real("--dist-timeout", o.dist_timeout_s, 1e-3, 1e6, "a number of seconds in 0.001..1000000");
  check_int("--bucket-mb", o.bucket_mb, 1, 4096);
  SONO_CHECK(!(o.resume && o.overwrite), "train", "--resume and --overwrite together: choose one");
}

}  // namespace sono
