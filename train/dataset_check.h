#pragma once
// `sono doctor`'s dataset check: every CSV row read, every image header read
// and every row built once as a one-row batch (decode, resize, target), by
// the same functions training calls (tasks::read_dataset, data::check_images,
// data::check_rows), then the split and the sampler of TrainOptions. Nothing
// is trained or written. Unlike training, which stops at the first bad row
// (without --skip-bad-rows), every bad row is collected, in CSV order.
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "train/trainer.h"

namespace sono {

struct TaskRows {
  std::string id;
  TaskType type = TaskType::Segmentation;
  int64_t num_classes = 0;
  int64_t train = 0, val = 0;  // usable rows in each split
};

struct DatasetCheck {
  std::vector<std::string> csv_files;  // in the order training reads them
  std::vector<TaskRows> tasks;         // first-appearance order
  int64_t rows = 0;                    // usable rows (bad rows left out)
  int64_t train_rows = 0, val_rows = 0, steps_per_epoch = 0;
  std::string split_fingerprint;
  std::vector<data::SkippedRow> bad_rows;  // every bad row, in CSV file then line order
  std::vector<std::string> warnings;       // the reader's (empty CSV files)
  // Why training would not start with these options, each naming the file
  // and line where there is one; empty = it would start.
  std::vector<std::string> problems;
};

// Reads o.data_dir as `sono train` with these options would (o.csv_order,
// o.image_size, o.val_fraction, o.seed, o.batch_size, o.skip_bad_rows,
// o.num_workers threads for the decoding).
DatasetCheck check_dataset(const TrainOptions& o);

}  // namespace sono
