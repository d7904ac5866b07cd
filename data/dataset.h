#pragma once
// Reads a dataset in the FMC_UIA on-disk format: <root>/csv_files/*.csv,
// all files concatenated in file-name order (CsvOrder::Sorted) or in the
// order the directory lists them (CsvOrder::Directory: readdir's order, which
// is what the official train.py's glob gives on the same machine). Columns (any order; a column
// absent from a file, or an empty field, reads as missing):
//   image_path, task_id, task_name, num_classes      required in every row
//   mask_path                                        segmentation
//   mask (the class label)                           classification
//   x_min, y_min, x_max, y_max (all or none)         detection; none = no box
//   point_1_xy, point_2_xy, ... ("[x, y]" JSON)      Regression, num_classes points
// Paths are relative to csv_files/. task_name is accepted in any case.
//
// Every problem names the CSV file, the row's line (1-based, header = 1)
// and the column. With OnBadRow::Stop the first one throws sono::Error; with
// OnBadRow::Skip the row is left out and reported in Dataset::skipped so the
// trainer can log it. Checks: malformed CSV rows, missing required fields,
// unknown task_name, non-numeric values, label >= num_classes, a box with
// x_min >= x_max or negative coordinates, num_classes or task_name differing
// between rows of one task id. Checks that need the image (box inside the
// image, mask values and size) run in check_images() (headers), check_rows()
// (data/check_rows.h: a full decode, under --skip-bad-rows) and at load time.
#include <cstdint>
#include <string>
#include <vector>

#include "data/sample.h"
#include "data/target_codec.h"

namespace sono::data {

enum class OnBadRow { Stop, Skip };

enum class CsvOrder { Sorted, Directory };
// "sorted" / "directory"; throws naming the value otherwise.
CsvOrder parse_csv_order(const std::string& name);
const char* csv_order_name(CsvOrder order);
// The .csv entries of a directory listing (in the listing's order), sorted
// by name or kept in that order.
std::vector<std::string> order_csv_files(std::vector<std::string> listing, CsvOrder order);

// Targets: Required for training and evaluation; Optional for prediction,
// where test CSVs carry no labels, points or boxes and mask_path names where
// the predicted mask goes (the file need not exist). Rows read without a
// target have Sample::has_target false.
enum class Targets { Required, Optional };

struct SkippedRow {
  std::string file;
  int64_t line = 0;
  std::string reason;  // the full message OnBadRow::Stop would have thrown
};

struct Dataset {
  std::string root;                 // the folder holding csv_files/
  std::vector<TaskInfo> tasks;      // in order of first appearance
  std::vector<Sample> samples;      // accepted rows, file-name order then row order
  std::vector<SkippedRow> skipped;  // OnBadRow::Skip only
  // Problems that drop nothing but may surprise: an empty or header-only CSV
  // file (its tasks, if no other file has them, are not trained). Each
  // message names the file.
  std::vector<std::string> warnings;
  CsvOrder csv_order = CsvOrder::Sorted;
  std::vector<std::string> csv_files;  // in the order read
  TargetCodecs codecs = nullptr;       // how each kind's targets are read and batched

  int64_t find_task(const std::string& id) const;  // -1 when absent
  const TargetCodec& codec(int64_t task) const;    // of ds.tasks[task]'s kind
};

// `codecs` reads each kind's target columns (tasks::target_codec; tasks/dataset.h
// has the overloads that pass it).
Dataset read_dataset(const std::string& root, TargetCodecs codecs, OnBadRow policy = OnBadRow::Stop,
                     Targets targets = Targets::Required, CsvOrder order = CsvOrder::Sorted);
// The same for an explicit list of CSV files, read in the given order.
Dataset read_csv_files(const std::vector<std::string>& files, TargetCodecs codecs, OnBadRow policy = OnBadRow::Stop,
                       Targets targets = Targets::Required);

// Reads every image header (not the pixels) and checks that the image
// exists and decodes and that boxes lie inside it. Under OnBadRow::Skip the
// failing samples are removed and appended to ds.skipped.
void check_images(Dataset& ds, OnBadRow policy = OnBadRow::Stop);

// Throws naming the row unless 0 <= x_min < x_max <= width and likewise for y.
void check_box_in_image(const Sample& s, int64_t height, int64_t width);

}  // namespace sono::data
