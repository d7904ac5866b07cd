#include "core/task_type.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"

namespace sono {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

const char* task_type_name(TaskType t) {
  static const char* const names[] = {"segmentation", "classification", "Regression", "detection"};
  const size_t i = size_t(t);
  return i < sizeof names / sizeof names[0] ? names[i] : "?";
}

bool try_parse_task_type(const std::string& name, TaskType& out) {
  const std::string l = lower(name);
  for (TaskType t : kTaskTypes)
    if (lower(task_type_name(t)) == l) {
      out = t;
      return true;
    }
  return false;
}

TaskType parse_task_type(const std::string& name) {
  TaskType t;
  if (!try_parse_task_type(name, t))
    throw Error("task type: unknown '" + name + "' (expected segmentation, classification, Regression or detection)");
  return t;
}

}  // namespace sono
