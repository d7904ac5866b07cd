#pragma once
// A synthetic ultrasound-like dataset in the FMC_UIA on-disk format, for
// tests, benchmarks and smoke training runs without real data. Images are
// 8-bit grayscale PNGs of varying, non-square size: a bright fan-shaped
// sector with multiplicative Rayleigh speckle on a black background,
// containing ellipses or blobs whose geometry is the ground truth:
//
//   phantom_seg   segmentation   2  dark lesion ellipse with a bright rim (mask 0/1)
//   phantom_det   detection      1  box of that lesion (same images as phantom_seg)
//   phantom_reg   Regression     2  end points of the lesion's minor axis, upper first
//                                   (same images; like hc18_bpd)
//   phantom_seg3  segmentation   3  a dark (class 1) and a bright (class 2) ellipse
//   phantom_cls   classification 3  1, 2 or 3 bright blobs (label = count - 1)
//
// Layout: <root>/csv_files/<task>.csv, <root>/images/<set>/<n>.png,
// <root>/masks/<set>/<n>.png, CSV paths relative to csv_files/ ("../images/...").
// Everything is a pure function of the options (seed included).
#include <cstdint>
#include <string>
#include <vector>

#include "data/sample.h"

namespace sono::data {

struct PhantomOptions {
  int64_t images_per_task = 40;
  int64_t min_size = 180, max_size = 320;  // width and height, drawn independently
  uint64_t seed = 0;
  // Extra phantom_det rows without a box (background-only images), to exercise
  // the (-1, -1, -1, -1) target.
  int64_t det_rows_without_box = 0;
};

// The ground truth of one written CSV row.
struct PhantomRow {
  std::string task_id;
  TaskType type = TaskType::Segmentation;
  int64_t num_classes = 0;
  std::string image_path;  // as written in the CSV (relative to csv_files/)
  std::string mask_path;   // segmentation
  int64_t label = -1;      // classification
  bool has_box = false;    // detection
  Box box;
  std::vector<double> points;  // regression, exactly as written (2 decimals)
  int64_t height = 0, width = 0;
};

// Writes the dataset under `root` (created if needed) and returns its rows
// in CSV file-name order, then row order (the order read_dataset returns).
std::vector<PhantomRow> write_phantom_dataset(const std::string& root, const PhantomOptions& opt = {});

}  // namespace sono::data
