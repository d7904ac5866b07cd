#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/loader.h"
#include "data/sampler.h"
#include "data/split.h"
#include "io/safetensors.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "train/bn_calibration.h"
#include "train/curves.h"
#include "train/model_io.h"
#include "train/progress.h"
#include "train/task_loss.h"
#include "train/tasks.h"
#include "train/validation.h"

namespace sono {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Where training stands; saved in last.safetensors so --resume continues
// exactly: same batches, same augmentation, same dropout masks, same updates.
struct TrainState {
  int64_t epoch = 0;          // current epoch
  int64_t step_in_epoch = 0;  // steps of `epoch` already done
  int64_t global_step = 0;
  double best_score = -INFINITY;
  int64_t best_epoch = -1;
  std::string sampler_at_epoch_start;  // TaskSampler::state() before this epoch's plan was drawn
  uint64_t dropout_offset = 0;          // model random stream position

  json to_json() const {
    return {{"epoch", epoch},           {"step_in_epoch", step_in_epoch}, {"global_step", global_step},
            {"best_score", best_score}, {"best_epoch", best_epoch},       {"sampler", sampler_at_epoch_start},
            {"dropout_offset", dropout_offset}};
  }
  static TrainState from_json(const json& j) {
    TrainState s;
    s.epoch = j.at("epoch");
    s.step_in_epoch = j.at("step_in_epoch");
    s.global_step = j.at("global_step");
    s.best_score = j.at("best_score").is_null() ? -INFINITY : j.at("best_score").get<double>();
    s.best_epoch = j.at("best_epoch");
    s.sampler_at_epoch_start = j.at("sampler");
    s.dropout_offset = j.at("dropout_offset");
    return s;
  }
};

// Decoder and heads train at lr_heads/lr_decoder, the encoder at lr_encoder
// (MODEL_SPEC 6.1); the official recipe has no decoder group.
std::vector<ParamGroup> make_groups(const model::MultiTaskModel& m, const TrainOptions& o) {
  auto group = [&](const std::string& name, const nn::Module& mod, double lr) {
    ParamGroup g;
    g.name = name;
    g.params = mod.parameters();
    g.lr = g.initial_lr = lr;
    g.weight_decay = o.weight_decay;
    return g;
  };
  std::vector<ParamGroup> groups{group("encoder", m.encoder(), o.lr_encoder)};
  if (o.recipe != "official") groups.push_back(group("fpn_decoder", m.decoder(), o.lr_decoder));
  for (const auto& [id, head] : m.heads().items()) groups.push_back(group("heads." + id, *head, o.lr_heads));
  return groups;
}

void append_jsonl(std::ofstream& log, const json& j) {
  log << j.dump() << "\n";
  log.flush();
}

std::map<std::string, std::string> best_metadata(const model::MultiTaskModel& model, const TrainOptions& o) {
  auto meta = model_metadata(model);
  meta["sono.image_size"] = std::to_string(o.image_size);
  meta["sono.recipe"] = o.recipe;
  return meta;
}

void save_last(const std::string& path, const model::MultiTaskModel& model, const AdamW& opt, const TrainState& st,
               const TrainOptions& o) {
  nn::NamedTensors tensors = model.state_dict();
  for (auto& [k, v] : opt.state_dict()) tensors.push_back({"optimizer." + k, v});
  auto meta = best_metadata(model, o);
  meta["sono.trainer_state"] = st.to_json().dump();
  nn::write_safetensors(path, tensors, meta);
}

std::string fmt(double v, int prec = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", prec, v);
  return buf;
}

}  // namespace

TrainSummary train_model(const TrainOptions& o) {
  SONO_CHECK(o.recipe == "default" || o.recipe == "official", "train", "unknown recipe '", o.recipe,
             "' (default or official)");
  SONO_CHECK(o.epochs > 0 && o.batch_size > 0 && o.image_size >= 32 && o.image_size % 32 == 0, "train",
             "epochs and batch size must be positive and the image size a multiple of 32 (>= 32)");
  const auto t_start = std::chrono::steady_clock::now();
  fs::create_directories(o.out_dir);
  const std::string last_path = (fs::path(o.out_dir) / "last.safetensors").string();
  const std::string best_path = (fs::path(o.out_dir) / "best.safetensors").string();

  // ---- data ---------------------------------------------------------------
  const data::OnBadRow policy = o.skip_bad_rows ? data::OnBadRow::Skip : data::OnBadRow::Stop;
  data::Dataset ds = data::read_dataset(o.data_dir, policy);
  data::check_images(ds, policy);
  SONO_CHECK(!ds.samples.empty(), "train", "no usable rows in ", o.data_dir);
  data::Split split = data::random_split(int64_t(ds.samples.size()), o.val_fraction, o.seed);
  data::TaskSampler sampler(ds.samples, split.train, o.batch_size, o.seed);
  SONO_CHECK(sampler.steps_per_epoch() > 0, "train", split.train.size(), " training rows are fewer than one batch of ",
             o.batch_size);

  // ---- model and optimizer ---------------------------------------------------
  model::MultiTaskModelConfig cfg;
  cfg.encoder = o.encoder;
  cfg.tasks = registry_for(ds, o.recipe == "official");
  cfg.init_seed = o.seed;
  cfg.random_seed = o.seed;
  model::MultiTaskModel model(cfg);
  std::string pretrained_report;
  if (!o.pretrained.empty()) pretrained_report = load_pretrained_encoder(model, o.pretrained);
  model.to(o.device);
  AdamW opt(make_groups(model, o));

  TrainState st;
  st.sampler_at_epoch_start = sampler.state();
  if (o.resume) {
    SONO_CHECK(fs::exists(last_path), "train --resume", "no checkpoint ", last_path);
    nn::SafetensorsFile f = nn::read_safetensors(last_path);
    nn::NamedTensors model_part;
    std::map<std::string, Tensor> opt_part;
    for (auto& [k, v] : f.tensors) {
      if (k.rfind("optimizer.", 0) == 0) opt_part[k.substr(10)] = v;
      else model_part.push_back({k, v});
    }
    nn::LoadOptions lo;
    lo.source = last_path;
    nn::load_state_dict(model, model_part, lo);
    opt.load_state_dict(opt_part);
    auto it = f.metadata.find("sono.trainer_state");
    SONO_CHECK(it != f.metadata.end(), "train --resume", last_path, " has no trainer state");
    st = TrainState::from_json(json::parse(it->second));
  }

  std::ofstream log(fs::path(o.out_dir) / "log.jsonl", o.resume ? std::ios::app : std::ios::trunc);
  SONO_CHECK(log.good(), "train", "cannot write ", (fs::path(o.out_dir) / "log.jsonl").string());
  {
    json start = {{"type", "start"}, {"bn_calibration_batches", o.bn_calibration_batches},        {"data", o.data_dir},          {"encoder", o.encoder},
                  {"recipe", o.recipe},      {"epochs", o.epochs},          {"batch_size", o.batch_size},
                  {"image_size", o.image_size}, {"train_rows", split.train.size()}, {"val_rows", split.val.size()},
                  {"steps_per_epoch", sampler.steps_per_epoch()}, {"resume", o.resume},
                  {"global_step", st.global_step}, {"skipped_rows", json::array()}};
    for (const auto& s : ds.skipped) start["skipped_rows"].push_back({{"file", s.file}, {"line", s.line}, {"reason", s.reason}});
    if (!pretrained_report.empty()) start["pretrained"] = pretrained_report;
    append_jsonl(log, start);
    for (const auto& s : ds.skipped)
      std::fprintf(stderr, "train: skipped %s line %lld: %s\n", s.file.c_str(), (long long)s.line, s.reason.c_str());
  }

  auto cache = o.cache_images ? std::make_shared<data::ImageCache>() : nullptr;
  data::LoaderOptions lo;
  lo.batch.image_size = o.image_size;
  lo.batch.augment = true;
  lo.batch.seed = o.seed;
  lo.num_workers = o.num_workers;
  data::Loader loader(ds, lo, cache);
  ValidationOptions vo;
  vo.image_size = o.image_size;
  vo.batch_size = o.val_batch_size;
  vo.num_workers = o.num_workers;
  vo.device = o.device;
  vo.progress = o.progress;

  CurveData curves = o.resume ? read_curves(fs::path(o.out_dir) / "log.jsonl") : CurveData{};
  TrainSummary summary;
  model.train();
  for (; st.epoch < o.epochs; ++st.epoch) {
    apply_cosine_schedule(opt, o.eta_min, st.epoch, o.epochs);
    sampler.set_state(st.sampler_at_epoch_start);
    std::vector<data::PlannedBatch> plan = sampler.epoch();
    model.random().generator.offset = st.dropout_offset;
    loader.start(plan, st.epoch, st.step_in_epoch);
    ProgressBar bar(str_cat("epoch ", st.epoch + 1, "/", o.epochs), int64_t(plan.size()), o.progress);
    std::map<std::string, std::pair<double, int64_t>> epoch_loss;  // task -> (sum, count)
    data::Batch batch;
    auto t_epoch = std::chrono::steady_clock::now();
    int64_t images = 0;
    while (loader.next(batch)) {
      const std::string& task = ds.tasks[size_t(batch.task)].id;
      opt.zero_grad();
      // The images go to the model's device here and task_loss moves the
      // target next to the output; the loader's tensors stay on the CPU.
      Tensor out = model.forward(batch.images.to(o.device), task);
      Tensor loss = task_loss(batch, out);
      loss.backward();
      opt.step();
      // The step's one read-back from the device (the logged and printed
      // loss). It comes after the whole step is queued so that a GPU runs
      // forward, backward and update without waiting for the host; a
      // non-finite loss still stops training before anything is saved.
      const double lv = loss.item();
      if (!std::isfinite(lv)) {
        std::string rows;
        for (const auto& s : batch.samples) rows += "\n  " + data::row_location(s) + ": " + s.image_path;
        throw Error(str_cat("train: the loss of task '", task, "' is ", lv, " at epoch ", st.epoch + 1, ", step ",
                            batch.step + 1, " (global step ", st.global_step + 1, "); the batch's rows:", rows));
      }
      ++st.global_step;
      st.step_in_epoch = batch.step + 1;
      st.dropout_offset = model.random().generator.offset;
      summary.last_loss = lv;
      epoch_loss[task].first += lv;
      epoch_loss[task].second += 1;
      images += batch.size();
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_epoch).count();
      const double ips = secs > 0 ? double(images) / secs : 0.0;
      curves.steps.push_back({st.global_step, lv, task});
      if (o.log_every > 0 && st.global_step % o.log_every == 0)
        append_jsonl(log, {{"type", "step"}, {"epoch", st.epoch + 1}, {"step", st.step_in_epoch},
                           {"global_step", st.global_step}, {"task", task}, {"loss", lv},
                           {"lr", opt.groups()[0].lr}, {"lr_heads", opt.groups().back().lr},
                           {"images_per_s", ips}});
      bar.update(st.step_in_epoch, str_cat("loss ", fmt(lv), " task ", task, " lr ", fmt(opt.groups()[0].lr, 3),
                                           " ", fmt(ips, 3), " img/s"));
      if (o.max_steps >= 0 && st.global_step >= o.max_steps) {
        bar.finish("stopped at max_steps");
        save_last(last_path, model, opt, st, o);
        append_jsonl(log, {{"type", "stop"}, {"global_step", st.global_step}, {"reason", "max_steps"}});
        summary.steps = st.global_step;
        summary.epochs_completed = st.epoch;
        summary.best_score = st.best_score;
        summary.best_epoch = st.best_epoch;
        summary.skipped_rows = int64_t(ds.skipped.size());
        return summary;
      }
    }
    bar.finish();

    // ---- end of epoch: validation, best model, checkpoint ----------------
    json ep = {{"type", "epoch"}, {"epoch", st.epoch + 1}, {"global_step", st.global_step},
               {"lr", opt.groups()[0].lr}, {"train_loss", json::object()}};
    for (auto& [task, sc] : epoch_loss) ep["train_loss"][task] = sc.first / double(sc.second);
    if (!split.val.empty()) {
      if (o.bn_calibration_batches > 0) {
        // Its own sampler stream, so the training's batches stay as they were.
        data::TaskSampler cal(ds.samples, split.train, o.batch_size, o.seed + 7919 * uint64_t(st.epoch + 1));
        std::vector<data::PlannedBatch> cal_plan;
        for (int64_t i = 0; i < o.bn_calibration_batches; ++i) cal_plan.push_back(cal.next());
        recalibrate_batch_norm(model, ds, cal_plan, o.image_size, o.device, o.num_workers, cache);
      }
      ValidationResult v = validate(model, ds, split.val, vo, cache);
      model.train();
      ep["val"] = v.per_task;
      ep["val_score"] = v.score;
      curves.epochs.push_back({st.epoch + 1, v.score});
      if (v.score > st.best_score) {
        st.best_score = v.score;
        st.best_epoch = st.epoch + 1;
        nn::save_safetensors(model, best_path, best_metadata(model, o));
        ep["best"] = true;
      }
      if (o.progress) std::fprintf(stderr, "epoch %lld: validation score %.4f%s\n", (long long)(st.epoch + 1), v.score,
                   st.best_epoch == st.epoch + 1 ? " (best so far, saved)" : "");
      for (auto& [task, m] : v.per_task) {
        if (!o.progress) break;
        std::string line;
        for (auto& [k, x] : m) line += " " + k + "=" + fmt(x);
        std::fprintf(stderr, "  %s:%s\n", task.c_str(), line.c_str());
      }
    } else {
      nn::save_safetensors(model, best_path, best_metadata(model, o));  // no validation split: the last is the best
    }
    append_jsonl(log, ep);
    st.sampler_at_epoch_start = sampler.state();
    st.step_in_epoch = 0;
    TrainState next = st;
    ++next.epoch;
    save_last(last_path, model, opt, next, o);
    summary.epochs_completed = st.epoch + 1;
  }
  write_curves_png((fs::path(o.out_dir) / "curves.png").string(), curves);

  summary.steps = st.global_step;
  summary.best_score = st.best_score;
  summary.best_epoch = st.best_epoch;
  summary.skipped_rows = int64_t(ds.skipped.size());
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  json sj = {{"steps", summary.steps}, {"epochs", summary.epochs_completed}, {"best_score", summary.best_score},
             {"best_epoch", summary.best_epoch}, {"last_loss", summary.last_loss}, {"seconds", summary.seconds},
             {"skipped_rows", json::array()}};
  for (const auto& s : ds.skipped) sj["skipped_rows"].push_back({{"file", s.file}, {"line", s.line}, {"reason", s.reason}});
  std::ofstream(fs::path(o.out_dir) / "summary.json") << sj.dump(2) << "\n";
  append_jsonl(log, {{"type", "end"}, {"summary", sj}});
  return summary;
}

}  // namespace sono
