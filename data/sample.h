#pragma once
// The records the dataset reader produces: the tasks of a dataset and one
// Sample per CSV row, with every path resolved and every value checked.
#include <cstdint>
#include <string>
#include <vector>

#include "core/task_type.h"

namespace sono::data {

struct TaskInfo {
  std::string id;  // e.g. "breast_lesion"
  TaskType type = TaskType::Segmentation;
  // Classes for segmentation/classification (background included), 1 for
  // detection, the number of points for regression.
  int64_t num_classes = 0;
};

// A box in original-image pixels, pascal_voc: x_max/y_max are exclusive edges.
struct Box {
  double x_min = 0, y_min = 0, x_max = 0, y_max = 0;
};

struct Sample {
  int64_t task = -1;       // index into Dataset::tasks
  bool has_target = true;  // false: read for prediction without label / points / mask file
  TaskType type = TaskType::Segmentation;
  int64_t num_classes = 0;
  std::string image_path;      // resolved (csv_files/ + the CSV's path, lexically normalised)
  std::string csv_image_path;  // as written in the CSV: predictions are keyed by (task id, this)
  int64_t label = -1;          // classification: class index
  std::string mask_path;       // segmentation: resolved mask path
  bool has_box = false;        // detection: false = no box (target -1, -1, -1, -1)
  Box box;
  std::vector<double> points;  // regression: x1, y1, x2, y2, ... in original pixels
  // Where the row came from, for error messages raised later (at decode time).
  std::string csv_file;
  int64_t line = 0;  // 1-based line of the row's first character (the header is line 1)
};

// "<csv file>, line <n>": the prefix of every error about one row.
std::string row_location(const Sample& s);

}  // namespace sono::data
