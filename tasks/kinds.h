#pragma once
// The four implementations of TaskKind, one per file; reached through
// task_kind() (tasks/task_kind.h), which is what callers use.
#include "tasks/task_kind.h"

namespace sono::tasks {

const TaskKind& segmentation_kind();    // tasks/segmentation.cpp
const TaskKind& classification_kind();  // tasks/classification.cpp
const TaskKind& regression_kind();      // tasks/regression.cpp
const TaskKind& detection_kind();       // tasks/detection.cpp

}  // namespace sono::tasks
