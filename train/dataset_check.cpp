#include "train/dataset_check.h"

#include <algorithm>
#include <map>

#include "data/check_rows.h"
#include "data/sampler.h"
#include "data/split.h"
#include "tasks/dataset.h"

namespace sono {

DatasetCheck check_dataset(const TrainOptions& o) {
  DatasetCheck r;
  data::Dataset ds;
  try {
    // Skip, not Stop: every bad row is collected instead of the first only.
    // The rows that remain are those `train --skip-bad-rows` would train on.
    ds = tasks::read_dataset(o.data_dir, data::OnBadRow::Skip, data::Targets::Required,
                             data::parse_csv_order(o.csv_order));
    data::check_images(ds, data::OnBadRow::Skip);
    data::check_rows(ds, o.image_size, nullptr, std::max(1, o.num_workers));
  } catch (const std::exception& e) {
    // Not a row: no csv_files/ folder, an unreadable CSV, a file-system error.
    r.problems.push_back(e.what());
    return r;
  }
  r.csv_files = ds.csv_files;
  r.warnings = ds.warnings;
  r.bad_rows = ds.skipped;
  std::map<std::string, size_t> file_order;
  for (size_t i = 0; i < ds.csv_files.size(); ++i) file_order[ds.csv_files[i]] = i;
  std::stable_sort(r.bad_rows.begin(), r.bad_rows.end(), [&](const data::SkippedRow& a, const data::SkippedRow& b) {
    const size_t fa = file_order.count(a.file) ? file_order[a.file] : 0,
                 fb = file_order.count(b.file) ? file_order[b.file] : 0;
    return fa != fb ? fa < fb : a.line < b.line;
  });
  if (!r.bad_rows.empty() && !o.skip_bad_rows) {
    const data::SkippedRow& first = r.bad_rows.front();
    r.problems.push_back(
        str_cat(r.bad_rows.size(), " bad row", r.bad_rows.size() == 1 ? "" : "s",
                ": training stops at the first (or pass --skip-bad-rows to leave them out): ", first.reason));
  }
  r.rows = int64_t(ds.samples.size());
  for (const auto& t : ds.tasks) r.tasks.push_back({t.id, t.type, t.num_classes, 0, 0});
  if (ds.samples.empty()) {
    r.problems.push_back(str_cat("no usable rows in ", o.data_dir));
    return r;
  }
  const data::Split split = data::random_split(r.rows, o.val_fraction, o.seed);
  for (int64_t i : split.train) ++r.tasks[size_t(ds.samples[size_t(i)].task)].train;
  for (int64_t i : split.val) ++r.tasks[size_t(ds.samples[size_t(i)].task)].val;
  r.train_rows = int64_t(split.train.size());
  r.val_rows = int64_t(split.val.size());
  r.split_fingerprint = data::split_fingerprint(ds.samples, split.val);
  r.steps_per_epoch = data::TaskSampler(ds.samples, split.train, o.batch_size, o.seed).steps_per_epoch();
  if (r.steps_per_epoch == 0)
    r.problems.push_back(str_cat(r.train_rows, " training rows are fewer than one batch of ", o.batch_size));
  return r;
}

}  // namespace sono
