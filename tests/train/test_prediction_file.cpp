#include <doctest/doctest.h>

#include "core/error.h"
#include "train/prediction_file.h"

using namespace sono;

TEST_CASE("parse_prediction_file: indexes entries by task id and image path") {
  PredictionIndex idx = parse_prediction_file(
      R"([{"task_id": "cls", "image_path": "a.png", "predicted_class": 1},
          {"task_id": "cls", "image_path": "b.png", "predicted_class": 0},
          {"task_id": "det", "image_path": "a.png", "bbox_pixels": [1, 2, 3, 4]}])",
      "p.json");
  REQUIRE(idx.size() == 2);
  CHECK(idx["cls"].size() == 2);
  CHECK(idx["cls"]["a.png"]["predicted_class"] == 1);
  CHECK(idx["det"]["a.png"]["bbox_pixels"].size() == 4);
  CHECK(parse_prediction_file("null", "p.json").empty());
  CHECK(parse_prediction_file("[]", "p.json").empty());
  CHECK(read_prediction_file("/nonexistent/sono/p.json").empty());
}

TEST_CASE("parse_prediction_file: every problem is a sono::Error naming the file") {
  CHECK_THROWS_WITH_AS(parse_prediction_file("[{", "p.json"), doctest::Contains("p.json is not valid JSON"), Error);
  CHECK_THROWS_WITH_AS(parse_prediction_file("{}", "p.json"), doctest::Contains("p.json must hold a JSON list"), Error);
  CHECK_THROWS_WITH_AS(parse_prediction_file(R"([{"task_id": "t"}])", "p.json"),
                       doctest::Contains("p.json entry 0 lacks task_id or image_path"), Error);
  // Seen while writing fuzz/prediction_json_fuzz.cpp (the input is kept as
  // fuzz/corpus/prediction_json/crash-task-id-not-a-string.json): a non-string
  // id escaped as nlohmann's "type must be string", naming no file.
  CHECK_THROWS_WITH_AS(
      parse_prediction_file(R"([{"task_id": "t", "image_path": "a"}, {"task_id": 3, "image_path": "b"}])", "p.json"),
      doctest::Contains("p.json entry 1: task_id and image_path must be strings"), Error);
  CHECK_THROWS_WITH_AS(parse_prediction_file(R"([{"task_id": "t", "image_path": null}])", "p.json"),
                       doctest::Contains("must be strings"), Error);
}
