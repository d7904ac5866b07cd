#pragma once
// The four task kinds of the challenge, and their names as the baseline
// spells them. The kind-specific behaviour lives in tasks/ (tasks/task_kind.h);
// this leaf header only names the kinds so every library can carry one.
#include <cstdint>
#include <string>

namespace sono {

enum class TaskType : uint8_t { Segmentation, Classification, Regression, Detection };

// Every kind, in the enum's order.
constexpr TaskType kTaskTypes[] = {TaskType::Segmentation, TaskType::Classification, TaskType::Regression,
                                   TaskType::Detection};

// "segmentation", "classification", "Regression" (capital R, as in the
// official CSVs and train.py), "detection".
const char* task_type_name(TaskType t);
// Case-insensitive; false for anything else.
bool try_parse_task_type(const std::string& name, TaskType& out);
// Case-insensitive; throws listing the accepted names.
TaskType parse_task_type(const std::string& name);

}  // namespace sono
