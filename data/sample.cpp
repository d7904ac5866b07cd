#include "data/sample.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace sono::data {

const char* task_type_name(TaskType t) {
  switch (t) {
    case TaskType::Segmentation:
      return "segmentation";
    case TaskType::Classification:
      return "classification";
    case TaskType::Detection:
      return "detection";
    case TaskType::Regression:
      return "Regression";
  }
  return "?";
}

bool parse_task_type(const std::string& s, TaskType& out) {
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  for (TaskType t : {TaskType::Segmentation, TaskType::Classification, TaskType::Detection, TaskType::Regression}) {
    std::string name = task_type_name(t);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (lower == name) {
      out = t;
      return true;
    }
  }
  return false;
}

std::string row_location(const Sample& s) { return str_cat(s.csv_file, ", line ", s.line); }

}  // namespace sono::data
