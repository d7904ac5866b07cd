#pragma once
// The task registry: which heads the multi-task model has, in order.
#include <string>
#include <vector>

#include "core/task_type.h"

namespace sono::model {

struct TaskSpec {
  std::string id;
  TaskType type;
  int64_t num_classes;  // classes; for Regression the number of points
  bool operator==(const TaskSpec& o) const { return id == o.id && type == o.type && num_classes == o.num_classes; }
};

// The 27 tasks of the baseline's TASK_CONFIGURATIONS, in its order.
const std::vector<TaskSpec>& official_tasks();

// An ordered set of tasks keyed by id.
class TaskRegistry {
 public:
  TaskRegistry() = default;
  explicit TaskRegistry(const std::vector<TaskSpec>& tasks);
  static TaskRegistry official() { return TaskRegistry(official_tasks()); }

  // Appends a task (e.g. one discovered in a dataset). Adding a task that is
  // already registered with the same type and classes is a no-op; a
  // conflicting definition throws naming both.
  void add(const TaskSpec& task);
  bool contains(const std::string& id) const { return find(id) != nullptr; }
  const TaskSpec& at(const std::string& id) const;  // throws naming the id
  const std::vector<TaskSpec>& tasks() const { return tasks_; }
  size_t size() const { return tasks_.size(); }

 private:
  const TaskSpec* find(const std::string& id) const;
  std::vector<TaskSpec> tasks_;
};

}  // namespace sono::model
