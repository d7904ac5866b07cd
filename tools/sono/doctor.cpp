// `sono doctor`: would `sono train` start here with these options, and if not,
// why (train/doctor.h). Exit 0: it would; 1: it would not, with the reasons.
#include <cstdio>

#include "tools/sono/command.h"
#include "train/doctor.h"

static sono::cli::Register reg([](CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "doctor",
      "Check the build, the devices, the dataset (every row, as training reads it), the peak memory and step time "
      "of a training step; exit 0 when `sono train` with these options would start, 1 with the reasons when not");
  auto o = std::make_shared<sono::DoctorOptions>();
  auto as_json = std::make_shared<bool>(false);
  sono::TrainOptions& t = o->train;
  cmd->add_option("--data", t.data_dir, "Dataset folder holding csv_files/ (default: no dataset check)");
  cmd->add_option("--encoder", t.encoder, "efficientnet-b0 .. efficientnet-b7")->capture_default_str();
  cmd->add_option("--size", t.image_size, "Input height and width (a positive multiple of 32)")->capture_default_str();
  cmd->add_option("--batch", t.batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--device", o->device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_option("--precision", o->precision,
                  "fp32 or tf32 (as train; bf16 is recognised and reported as not implemented)")
      ->capture_default_str();
  cmd->add_option("--val-fraction", t.val_fraction, "Share of rows held out for validation")->capture_default_str();
  cmd->add_option("--seed", t.seed, "Seed of the split and sampler")->capture_default_str();
  cmd->add_option("--csv-order", t.csv_order, "Order of csv_files/*.csv: sorted or directory (as train)")
      ->check(CLI::IsMember({"sorted", "directory"}))
      ->capture_default_str();
  cmd->add_flag("--skip-bad-rows", t.skip_bad_rows,
                "Bad rows would be skipped (as train --skip-bad-rows): they are listed but do not stop training");
  cmd->add_option("--workers", t.num_workers, "Threads decoding the images")->capture_default_str();
  cmd->add_option("--bench-results", o->bench_dir, "Folder of benchmark JSON files for the step time")
      ->capture_default_str();
  cmd->add_flag("--json", *as_json, "Print the report as JSON (docs/doctor.md lists its fields)");
  return [=] {
    const sono::DoctorReport r = sono::run_doctor(*o);
    if (*as_json) std::printf("%s\n", r.json.dump(2).c_str());
    else std::fputs(sono::doctor_text(r).c_str(), stdout);
    return r.problems.empty() ? 0 : 1;
  };
});
