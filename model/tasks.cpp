#include "model/tasks.h"

#include "core/error.h"

namespace sono::model {

const std::vector<TaskSpec>& official_tasks() {
  using T = TaskType;
  static const std::vector<TaskSpec> tasks = {
      {"FUGC", T::Regression, 2},
      {"IUGC", T::Regression, 3},
      {"fetal_femur", T::Regression, 2},
      {"breast_2cls", T::Classification, 2},
      {"breast_3cls", T::Classification, 3},
      {"fetal_head_pos_cls", T::Classification, 8},
      {"fetal_plane_cls", T::Classification, 6},
      {"fetal_sacral_pos_cls", T::Classification, 8},
      {"liver_lesion_2cls", T::Classification, 2},
      {"lung_2cls", T::Classification, 2},
      {"lung_disease_3cls", T::Classification, 3},
      {"organ_cls", T::Classification, 6},
      {"spinal_cord_injury_loc", T::Detection, 1},
      {"thyroid_nodule_det", T::Detection, 1},
      {"uterine_fibroid_det", T::Detection, 1},
      {"breast_lesion", T::Segmentation, 2},
      {"cardiac_multi", T::Segmentation, 4},
      {"carotid_artery", T::Segmentation, 2},
      {"cervix", T::Segmentation, 2},
      {"cervix_multi", T::Segmentation, 3},
      {"fetal_abdomen_multi", T::Segmentation, 5},
      {"fetal_head", T::Segmentation, 2},
      {"fetal_heart", T::Segmentation, 2},
      {"head_symphysis_multi", T::Segmentation, 3},
      {"lung", T::Segmentation, 2},
      {"ovary_tumor", T::Segmentation, 2},
      {"thyroid_nodule", T::Segmentation, 2},
  };
  return tasks;
}

TaskRegistry::TaskRegistry(const std::vector<TaskSpec>& tasks) {
  for (const auto& t : tasks) add(t);
}

const TaskSpec* TaskRegistry::find(const std::string& id) const {
  for (const auto& t : tasks_)
    if (t.id == id) return &t;
  return nullptr;
}

const TaskSpec& TaskRegistry::at(const std::string& id) const {
  const TaskSpec* t = find(id);
  SONO_CHECK(t != nullptr, "task registry", "unknown task '", id, "' (", tasks_.size(), " tasks registered)");
  return *t;
}

void TaskRegistry::add(const TaskSpec& task) {
  // Task ids become module names (heads.<id>), which cannot contain '.'.
  SONO_CHECK(!task.id.empty() && task.id.find('.') == std::string::npos, "task registry", "invalid task id '", task.id,
             "' (must be non-empty without '.')");
  SONO_CHECK(task.num_classes >= 1, "task registry", "task '", task.id, "' has ", task.num_classes,
             " classes/points; need at least 1");
  if (const TaskSpec* old = find(task.id)) {
    SONO_CHECK(*old == task, "task registry", "task '", task.id, "' is registered as ", task_type_name(old->type),
               " with ", old->num_classes, " classes; cannot redefine it as ", task_type_name(task.type), " with ",
               task.num_classes);
    return;
  }
  tasks_.push_back(task);
}

}  // namespace sono::model
