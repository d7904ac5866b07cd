#include <doctest/doctest.h>

#include "core/error.h"
#include "model/tasks.h"
#include "tasks/task_kind.h"

using namespace sono;
using namespace sono::model;

TEST_CASE("tasks: the 27 official tasks in TASK_CONFIGURATIONS order") {
  const auto& t = official_tasks();
  REQUIRE(t.size() == 27);
  CHECK(t[0] == TaskSpec{"FUGC", TaskType::Regression, 2});
  CHECK(t[1] == TaskSpec{"IUGC", TaskType::Regression, 3});
  CHECK(t[5] == TaskSpec{"fetal_head_pos_cls", TaskType::Classification, 8});
  CHECK(t[11] == TaskSpec{"organ_cls", TaskType::Classification, 6});
  CHECK(t[12] == TaskSpec{"spinal_cord_injury_loc", TaskType::Detection, 1});
  CHECK(t[16] == TaskSpec{"cardiac_multi", TaskType::Segmentation, 4});
  CHECK(t[26] == TaskSpec{"thyroid_nodule", TaskType::Segmentation, 2});
  int counts[4] = {0, 0, 0, 0};
  for (const auto& s : t) counts[int(s.type)]++;
  CHECK(counts[int(TaskType::Segmentation)] == 12);
  CHECK(counts[int(TaskType::Classification)] == 9);
  CHECK(counts[int(TaskType::Regression)] == 3);
  CHECK(counts[int(TaskType::Detection)] == 3);
  CHECK(tasks::output_channels(t[1]) == 6);   // 2 per point
  CHECK(tasks::output_channels(t[13]) == 5);  // box + objectness
  CHECK(tasks::output_channels(t[16]) == 4);
}

TEST_CASE("tasks: registry adds discovered tasks, rejects conflicts and bad ids") {
  TaskRegistry r = TaskRegistry::official();
  r.add({"organ_cls", TaskType::Classification, 6});  // same definition: no-op
  CHECK(r.size() == 27);
  r.add({"new_seg", TaskType::Segmentation, 3});
  CHECK(r.size() == 28);
  CHECK(r.tasks().back().id == "new_seg");
  CHECK(r.at("new_seg").num_classes == 3);
  CHECK_THROWS_WITH_AS(r.add({"organ_cls", TaskType::Classification, 7}), doctest::Contains("organ_cls"), Error);
  CHECK_THROWS_WITH_AS(r.add({"a.b", TaskType::Segmentation, 2}), doctest::Contains("invalid task id"), Error);
  CHECK_THROWS_WITH_AS(r.add({"z", TaskType::Segmentation, 0}), doctest::Contains("at least 1"), Error);
  CHECK_THROWS_WITH_AS(r.at("nope"), doctest::Contains("unknown task 'nope'"), Error);
}

TEST_CASE("tasks: type names round trip in the baseline's spelling") {
  CHECK(std::string(task_type_name(TaskType::Regression)) == "Regression");
  CHECK(parse_task_type("regression") == TaskType::Regression);
  CHECK(parse_task_type("Segmentation") == TaskType::Segmentation);
  CHECK(parse_task_type("detection") == TaskType::Detection);
  CHECK(parse_task_type("classification") == TaskType::Classification);
  CHECK_THROWS_WITH_AS(parse_task_type("seg"), doctest::Contains("unknown 'seg'"), Error);
}
