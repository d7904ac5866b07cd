#pragma once
// Reading one submission file of `sono predict` (a kind's *_predictions.json:
// a JSON list of {task_id, image_path, ...} entries) for the evaluation.
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace sono {

// task id -> image path (as in the CSV) -> the entry.
using PredictionIndex = std::map<std::string, std::map<std::string, nlohmann::json>>;

// Indexes the file's text; `file` names it in errors. Every problem throws
// sono::Error naming the file (and the entry).
PredictionIndex parse_prediction_file(const std::string& text, const std::string& file);

// The same for the file at `path`; a file that does not exist gives an empty
// index, one that is not a regular file or cannot be read is an error.
PredictionIndex read_prediction_file(const std::string& path);

}  // namespace sono
