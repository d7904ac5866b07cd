// `sono train` in named stages: setup (data, model, optimizer), resume (from
// last.safetensors), begin (log, loader), one epoch of steps (the step is
// train/step.h, the one the benchmarks time), end of epoch (validation, best
// model, checkpoint) and finish (curves.png, summary.json, the end record),
// which runs on every exit path: all epochs done, --max-steps, or an error
// (bad input, a non-finite loss), which is rethrown after it.
#include "train/trainer.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/precision.h"
#include "data/check_rows.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "data/split.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "optim/schedule.h"
#include "tasks/dataset.h"
#include "train/batch_prefetch.h"
#include "train/bn_calibration.h"
#include "train/curves.h"
#include "train/data_parallel.h"
#include "train/model_io.h"
#include "train/progress.h"
#include "train/step.h"
#include "train/stop_signal.h"
#include "train/train_state.h"
#include "train/validation.h"

namespace sono {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// log.jsonl is appended record by record (a crash keeps what came before);
// each append is checked, so a full disk stops training naming the file.
void append_jsonl(std::ofstream& log, const std::string& path, const json& j) {
  log << j.dump() << "\n";
  log.flush();
  SONO_CHECK(log.good(), "train", "cannot write ", path, " (disk full or I/O error)");
}

// The files a run writes to out_dir. A run that trained is one with a log or
// a checkpoint; a run that failed before its first step (bad data) leaves only
// summary.json and curves.png, and the next try may simply replace them.
const char* const kRunFiles[] = {"log.jsonl", "last.safetensors", "best.safetensors", "summary.json", "curves.png"};
const char* const kTrainedRunFiles[] = {"log.jsonl", "last.safetensors", "best.safetensors"};

// The temporary name AtomicFile gives a file being written: <target>.tmp-XXXXXX
// (mkstemp's six characters). A killed write leaves one behind.
bool is_atomic_temporary(const std::string& name) {
  const size_t at = name.rfind(".tmp-");
  if (at == std::string::npos || at == 0 || name.size() != at + 5 + 6) return false;
  for (size_t i = at + 5; i < name.size(); ++i)
    if (!std::isalnum(static_cast<unsigned char>(name[i]))) return false;
  return true;
}

// Before a run: another run in out_dir is refused unless --resume (continue
// it) or --overwrite (its files are removed, so no stale best.safetensors
// survives); temporary files of killed writes are removed.
void prepare_out_dir(const TrainOptions& o) {
  const fs::path dir(o.out_dir);
  SONO_CHECK(!fs::exists(dir) || fs::is_directory(dir), "train", "--out ", o.out_dir, " exists and is not a folder");
  fs::create_directories(dir);
  std::string found;
  for (const char* name : kTrainedRunFiles)
    if (fs::exists(dir / name)) found += std::string(found.empty() ? "" : ", ") + name;
  if (!found.empty() && !o.resume) {
    SONO_CHECK(o.overwrite, "train", "--out ", o.out_dir, " already holds a run (", found,
               "); pass --resume to continue it or --overwrite to replace it");
    for (const char* name : kRunFiles) fs::remove(dir / name);
    std::fprintf(stderr, "train: --overwrite: removed the previous run's %s from %s\n", found.c_str(),
                 o.out_dir.c_str());
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || !is_atomic_temporary(name)) continue;
    fs::remove(entry.path());
    std::fprintf(stderr, "train: removed %s, left by an interrupted write\n", entry.path().string().c_str());
  }
}

std::string fmt(double v, int prec = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", prec, v);
  return buf;
}

json skipped_rows_json(const std::vector<data::SkippedRow>& rows) {
  json a = json::array();
  for (const auto& s : rows) a.push_back({{"file", s.file}, {"line", s.line}, {"reason", s.reason}});
  return a;
}

class TrainingRun {
 public:
  TrainingRun(const TrainOptions& o, DataParallel& dp)
      : o_(o),
        dp_(dp),
        t_start_(std::chrono::steady_clock::now()),
        last_path_((fs::path(o.out_dir) / "last.safetensors").string()),
        best_path_((fs::path(o.out_dir) / "best.safetensors").string()),
        log_path_((fs::path(o.out_dir) / "log.jsonl").string()) {
    if (dp_.root()) prepare_out_dir(o);  // rank 0 alone writes out_dir
  }

  // ---- setup: data, model, optimizer ----------------------------------------
  void setup() {
    const data::OnBadRow policy = o_.skip_bad_rows ? data::OnBadRow::Skip : data::OnBadRow::Stop;
    ds_ = tasks::read_dataset(o_.data_dir, policy, data::Targets::Required, data::parse_csv_order(o_.csv_order));
    data::check_images(ds_, policy);
    cache_ = o_.cache_images ? std::make_shared<data::ImageCache>() : nullptr;
    // Rows that would fail inside a batch are found and removed before the split (data/check_rows.h).
    if (o_.skip_bad_rows) data::check_rows(ds_, o_.image_size, cache_.get(), std::max(1, o_.num_workers));
    SONO_CHECK(!ds_.samples.empty(), "train", "no usable rows in ", o_.data_dir);
    split_ = data::random_split(int64_t(ds_.samples.size()), o_.val_fraction, o_.seed);
    sampler_ = std::make_unique<data::TaskSampler>(ds_.samples, split_.train, o_.batch_size, o_.seed);
    SONO_CHECK(sampler_->steps_per_epoch() > 0, "train", split_.train.size(),
               " training rows are fewer than one batch of ", o_.batch_size);

    model::MultiTaskModelConfig cfg = tasks::model_config();
    cfg.encoder = o_.encoder;
    cfg.tasks = tasks::registry_for(ds_, o_.recipe == "official");
    cfg.init_seed = o_.seed;
    cfg.random_seed = o_.seed;
    model_ = std::make_unique<model::MultiTaskModel>(cfg);
    if (!o_.pretrained.empty()) pretrained_report_ = load_pretrained_encoder(*model_, o_.pretrained);
    model_->to(o_.device);
    opt_ = std::make_unique<AdamW>(make_groups(*model_, o_));
    st_.sampler_at_epoch_start = sampler_->state();
    config_ = train_config(o_, ds_);
    if (dp_.distributed()) {
      // Only in a distributed run, so a single process's checkpoint is as before.
      config_["--ranks"] = dp_.world_size();
      config_["--sync-bn"] = o_.sync_bn;
      std::map<int64_t, int64_t> rows_of_task;
      for (int64_t r : split_.train) ++rows_of_task[ds_.samples[size_t(r)].task];
      for (auto& [task, n] : rows_of_task) dp_.check_shardable(std::min(n, o_.batch_size), ds_.tasks[size_t(task)].id);
    }
    dp_.check_same_config(config_);
    dp_.attach(*model_, *opt_, o_.sync_bn, o_.bucket_mb << 20);
  }

  // ---- resume: model, optimizer and trainer state of last.safetensors ----------
  void resume() { st_ = load_last(last_path_, *model_, *opt_, config_); }

  // ---- begin: the log's start record, the loader, the curves so far ------------
  void begin() {
    const fs::path log_path = log_path_;
    if (dp_.root()) {
      log_.open(log_path, o_.resume ? std::ios::app : std::ios::trunc);
      SONO_CHECK(log_.good(), "train", "cannot write ", log_path.string());
    }
    json start = {{"type", "start"},
                  {"bn_calibration_batches", o_.bn_calibration_batches},
                  {"data", o_.data_dir},
                  {"encoder", o_.encoder},
                  {"recipe", o_.recipe},
                  {"epochs", o_.epochs},
                  {"batch_size", o_.batch_size},
                  {"image_size", o_.image_size},
                  {"train_rows", split_.train.size()},
                  {"val_rows", split_.val.size()},
                  {"steps_per_epoch", sampler_->steps_per_epoch()},
                  {"resume", o_.resume},
                  {"global_step", st_.global_step},
                  {"skipped_rows", skipped_rows_json(ds_.skipped)},
                  {"warnings", ds_.warnings},
                  {"csv_order", o_.csv_order},
                  {"precision", precision_name(precision())},
                  {"split_fingerprint", data::split_fingerprint(ds_.samples, split_.val)}};
    if (!pretrained_report_.empty()) start["pretrained"] = pretrained_report_;
    if (dp_.distributed()) start["ranks"] = dp_.world_size(), start["sync_bn"] = o_.sync_bn;
    log(start);
    if (dp_.root()) print_start(start);
    data::LoaderOptions lo;
    lo.batch.image_size = o_.image_size;
    lo.batch.augment = true;
    lo.batch.seed = o_.seed;
    lo.num_workers = o_.num_workers;
    loader_ = std::make_unique<data::Loader>(ds_, lo, cache_);
    if (o_.resume && dp_.root()) curves_ = read_curves(log_path);
    model_->train();
  }

  void print_start(const json& start) const {
    for (const auto& s : ds_.skipped)
      std::fprintf(stderr, "train: skipped %s line %lld: %s\n", s.file.c_str(), (long long)s.line, s.reason.c_str());
    for (const auto& w : ds_.warnings) std::fprintf(stderr, "train: warning: %s\n", w.c_str());
    std::printf("train: %zu CSV files in %s order; validation split %s (%zu rows)\n", ds_.csv_files.size(),
                o_.csv_order.c_str(), start["split_fingerprint"].get<std::string>().c_str(), split_.val.size());
    if (dp_.distributed())
      std::printf("train: %d ranks (%s), each step's batch split between them%s\n", dp_.world_size(),
                  dp_.comm().backend().c_str(), o_.sync_bn ? ", BatchNorm statistics synchronized" : "");
    std::fflush(stdout);
  }

  bool epochs_left() const { return st_.epoch < o_.epochs; }

  // ---- one epoch of steps; "" when it ran to its end, else the stop reason:
  // "max_steps" or "signal" (SIGINT/SIGTERM), checkpointed and logged.
  std::string run_epoch() {
    apply_cosine_schedule(*opt_, o_.eta_min, st_.epoch, o_.epochs);
    sampler_->set_state(st_.sampler_at_epoch_start);
    std::vector<data::PlannedBatch> plan = sampler_->epoch();
    global_rows_.clear();
    for (const auto& p : plan) global_rows_.push_back(int64_t(p.rows.size()));
    model_->random().generator.offset = st_.dropout_offset;
    loader_->start(dp_.shard(plan), st_.epoch, st_.step_in_epoch);
    ProgressBar bar(str_cat("epoch ", st_.epoch + 1, "/", o_.epochs), int64_t(plan.size()), o_.progress && dp_.root());
    epoch_loss_.clear();
    epoch_start_ = std::chrono::steady_clock::now();
    epoch_images_ = 0;
    data::Batch batch;
    BatchPrefetcher batches(*loader_, o_.device);  // a GPU copies batch n+1 while step n runs
    while (batches.next(batch)) {
      step(batch, bar);
      if (o_.max_steps >= 0 && st_.global_step >= o_.max_steps) {
        bar.finish("stopped at max_steps");
        save_last_if_root(st_);
        log({{"type", "stop"}, {"global_step", st_.global_step}, {"reason", "max_steps"}});
        return "max_steps";
      }
      if (dp_.any(stop_signal() != 0)) {
        bar.finish(str_cat("stopped by ", signal_name(stop_signal())));
        stop_for_signal();
        return "signal";
      }
    }
    bar.finish();
    return "";
  }

  // A signal received: last.safetensors at the current step and the stop record.
  void stop_for_signal() {
    save_last_if_root(st_);
    log({{"type", "stop"},
         {"global_step", st_.global_step},
         {"reason", "signal"},
         {"signal", signal_name(stop_signal())}});
  }

  // ---- end of epoch: validation, best model, checkpoint, schedule position ----
  void end_epoch() {
    json ep = {{"type", "epoch"},
               {"epoch", st_.epoch + 1},
               {"global_step", st_.global_step},
               {"lr", opt_->groups()[0].lr},
               {"train_loss", json::object()}};
    for (auto& [task, sc] : epoch_loss_) ep["train_loss"][task] = sc.first / double(sc.second);
    if (!split_.val.empty()) {
      validate_epoch(ep);
    } else if (dp_.root()) {
      nn::save_safetensors(*model_, best_path_,
                           best_metadata(*model_, o_));  // no validation split: the last is the best
    }
    log(ep);
    st_.sampler_at_epoch_start = sampler_->state();
    st_.step_in_epoch = 0;
    TrainState next = st_;
    ++next.epoch;
    save_last_if_root(next);
    ++st_.epoch;
  }

  // ---- finish: curves.png, summary.json and the end record, on every exit -----
  // `stop`: "end" (all epochs), "max_steps", "signal" or "error" (with `error`).
  TrainSummary finish(const std::string& stop, const std::string& error = "") {
    TrainSummary summary;
    summary.steps = st_.global_step;
    summary.epochs_completed = st_.epoch;
    summary.best_score = st_.best_score;
    summary.best_epoch = st_.best_epoch;
    summary.last_loss = last_loss_;
    summary.skipped_rows = int64_t(ds_.skipped.size());
    if (!dp_.root()) return summary;
    write_curves_png((fs::path(o_.out_dir) / "curves.png").string(), curves_);
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start_).count();
    json sj = {{"steps", summary.steps},
               {"epochs", summary.epochs_completed},
               {"best_score", summary.best_score},
               {"best_epoch", summary.best_epoch},
               {"last_loss", summary.last_loss},
               {"seconds", summary.seconds},
               {"stop", stop},
               {"skipped_rows", skipped_rows_json(ds_.skipped)},
               {"warnings", ds_.warnings}};
    if (!error.empty()) sj["error"] = error;
    nn::write_file_atomically((fs::path(o_.out_dir) / "summary.json").string(), sj.dump(2) + "\n");
    if (log_.is_open()) {
      if (stop == "error") log({{"type", "stop"}, {"global_step", st_.global_step}, {"reason", "error"}});
      log({{"type", "end"}, {"summary", sj}});
    }
    return summary;
  }

 private:
  void log(const json& j) {
    if (dp_.root()) append_jsonl(log_, log_path_, j);
  }
  void save_last_if_root(const TrainState& st) {
    if (dp_.root()) save_last(last_path_, *model_, *opt_, st, o_, config_);
  }

  // One training step and its bookkeeping; a non-finite loss stops training
  // before anything is saved, naming the batch's rows.
  void step(const data::Batch& batch, ProgressBar& bar) {
    const std::string& task = ds_.tasks[size_t(batch.task)].id;
    // The batch's images and targets are on the model's device already
    // (BatchPrefetcher; detection boxes stay on the host for the loss).
    // The step's one read-back from the device (the logged and printed loss)
    // comes after the whole step is queued so that a GPU runs forward,
    // backward and update without waiting for the host.
    if (dp_.distributed()) {
      fault_hook(dp_.rank(), st_.global_step + 1);
      dp_.comm().check_in(str_cat("global step ", st_.global_step + 1));
    }
    const int64_t global_rows = global_rows_[size_t(batch.step)];
    const StepResult res = dp_.step(*model_, *opt_, batch, task, o_.device, global_rows);
    const double lv = res.loss;
    if (!std::isfinite(lv)) {
      std::string rows;
      for (const auto& s : batch.samples) rows += "\n  " + data::row_location(s) + ": " + s.image_path;
      throw Error(str_cat("train: the loss of task '", task, "' is ", lv, " at epoch ", st_.epoch + 1, ", step ",
                          batch.step + 1, " (global step ", st_.global_step + 1, "); the batch's rows:", rows));
    }
    ++st_.global_step;
    st_.step_in_epoch = batch.step + 1;
    st_.dropout_offset = model_->random().generator.offset;
    last_loss_ = lv;
    epoch_loss_[task].first += lv;
    epoch_loss_[task].second += 1;
    epoch_images_ += global_rows;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
    const double ips = secs > 0 ? double(epoch_images_) / secs : 0.0;
    curves_.steps.push_back({st_.global_step, lv, task});
    if (o_.log_every > 0 && st_.global_step % o_.log_every == 0) {
      json rec = {{"type", "step"},
                  {"epoch", st_.epoch + 1},
                  {"step", st_.step_in_epoch},
                  {"global_step", st_.global_step},
                  {"task", task},
                  {"loss", lv},
                  {"lr", opt_->groups()[0].lr},
                  {"lr_heads", opt_->groups().back().lr},
                  {"images_per_s", ips}};
      if (dp_.distributed()) {
        // Gradient communication of this step (docs/distributed.md, "Speed").
        rec["comm_buckets"] = res.comm.buckets;
        rec["comm_bytes"] = res.comm.bytes;
        rec["comm_busy_s"] = res.comm.busy_seconds;
        rec["comm_exposed_s"] = res.comm.exposed_seconds;
        rec["comm_hidden"] = res.comm.hidden_fraction;
      }
      log(rec);
    }
    bar.update(st_.step_in_epoch, str_cat("loss ", fmt(lv), " task ", task, " lr ", fmt(opt_->groups()[0].lr, 3), " ",
                                          fmt(ips, 3), " img/s"));
  }

  void validate_epoch(json& ep) {
    if (o_.bn_calibration_batches > 0) {
      // Its own sampler stream, so the training's batches stay as they were.
      data::TaskSampler cal(ds_.samples, split_.train, o_.batch_size, o_.seed + 7919 * uint64_t(st_.epoch + 1));
      std::vector<data::PlannedBatch> cal_plan;
      for (int64_t i = 0; i < o_.bn_calibration_batches; ++i) cal_plan.push_back(cal.next());
      // Every rank calibrates on the same batches, with its own statistics.
      dp_.pause_sync_bn(*model_);
      recalibrate_batch_norm(*model_, ds_, cal_plan, o_.image_size, o_.device, o_.num_workers, cache_);
      dp_.resume_sync_bn(*model_);
    }
    InferenceOptions vo;
    vo.image_size = o_.image_size;
    vo.batch_size = o_.val_batch_size;
    vo.num_workers = o_.num_workers;
    vo.device = o_.device;
    vo.progress = o_.progress && dp_.root();
    vo.shard_rank = dp_.rank();
    vo.shard_count = dp_.world_size();
    dist::Communicator& comm = dp_.comm();
    ValidationResult v = validate(*model_, ds_, split_.val, vo, cache_, [&comm](const std::string& mine) {
      return comm.allgather(mine, "the validation metrics gather");
    });
    model_->train();
    ep["val"] = v.per_task;
    ep["val_score"] = v.score;
    curves_.epochs.push_back({st_.epoch + 1, v.score});
    if (v.score > st_.best_score) {
      st_.best_score = v.score;
      st_.best_epoch = st_.epoch + 1;
      if (dp_.root()) nn::save_safetensors(*model_, best_path_, best_metadata(*model_, o_));
      ep["best"] = true;
    }
    if (!o_.progress || !dp_.root()) return;
    std::fprintf(stderr, "epoch %lld: validation score %.4f%s\n", (long long)(st_.epoch + 1), v.score,
                 st_.best_epoch == st_.epoch + 1 ? " (best so far, saved)" : "");
    for (auto& [task, m] : v.per_task) {
      std::string line;
      for (auto& [k, x] : m) line += " " + k + "=" + fmt(x);
      std::fprintf(stderr, "  %s:%s\n", task.c_str(), line.c_str());
    }
  }

  const TrainOptions& o_;
  DataParallel& dp_;
  const std::chrono::steady_clock::time_point t_start_;
  const std::string last_path_, best_path_, log_path_;
  json config_;
  data::Dataset ds_;
  data::Split split_;
  std::unique_ptr<data::TaskSampler> sampler_;
  std::unique_ptr<model::MultiTaskModel> model_;
  std::unique_ptr<AdamW> opt_;
  std::string pretrained_report_;
  TrainState st_;
  std::ofstream log_;
  std::shared_ptr<data::ImageCache> cache_;
  std::unique_ptr<data::Loader> loader_;
  CurveData curves_;
  std::map<std::string, std::pair<double, int64_t>> epoch_loss_;  // task -> (sum, count) this epoch
  std::chrono::steady_clock::time_point epoch_start_;
  int64_t epoch_images_ = 0;
  std::vector<int64_t> global_rows_;  // rows of each step's global batch this epoch
  double last_loss_ = 0;
};

}  // namespace

// SONO_DIST_FORCE=1 runs a single process through the distributed code path
// (the MPI communicator with one rank): its test checks that path changes nothing.
static bool force_distributed() {
  const char* f = std::getenv("SONO_DIST_FORCE");
  return f && std::string(f) == "1";
}

TrainSummary train_model(const TrainOptions& o, DataParallel& dp);

TrainSummary train_model(const TrainOptions& o) {
  validate(o);
  std::optional<StopSignals> signals;
  if (o.handle_signals) signals.emplace();
  DataParallel dp(dist::make_communicator(o.dist_timeout_s, o.device.is_cuda(), force_distributed()));
  try {
    return train_model(o, dp);
  } catch (const TrainInterrupted&) {
    throw;  // every rank agreed to stop (run_epoch), rank 0 checkpointed
  } catch (const std::exception& e) {
    if (!dp.distributed()) throw;
    // The other ranks may wait in a collective for this one: end the whole job.
    std::fprintf(stderr, "train: rank %d of %d: %s\n", dp.rank(), dp.world_size(), e.what());
    std::fflush(stderr);
    dp.comm().abort(1);
    throw;  // not reached
  }
}

TrainSummary train_model(const TrainOptions& o, DataParallel& dp) {
  TrainingRun run(o, dp);
  std::string stop = "end";
  try {
    run.setup();
    if (o.resume) run.resume();
    run.begin();
    while (run.epochs_left()) {
      stop = run.run_epoch();
      if (!stop.empty()) break;
      run.end_epoch();
      if (dp.any(stop_signal() != 0) && o.handle_signals && run.epochs_left()) {
        // Between epochs: end_epoch has just checkpointed the next epoch's start.
        run.stop_for_signal();
        stop = "signal";
        break;
      }
    }
    if (stop.empty()) stop = "end";
  } catch (const std::exception& e) {
    try {
      run.finish("error", e.what());
    } catch (const std::exception& f) {
      std::fprintf(stderr, "train: could not write the summary after the error: %s\n", f.what());
    }
    throw;
  }
  TrainSummary summary = run.finish(stop);
  if (stop == "signal")
    throw TrainInterrupted(
        str_cat("train: stopped by ", signal_name(stop_signal()), " at global step ", summary.steps, "; ", o.out_dir,
                "/last.safetensors holds it. Continue with the same options and "
                "--resume: sono train --data ",
                o.data_dir, " --out ", o.out_dir, " ... --resume"),
        stop_signal());
  return summary;
}

}  // namespace sono
