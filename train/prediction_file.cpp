#include "train/prediction_file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace sono {

using nlohmann::json;

namespace {

// {task_id: {image_path: entry}} from a prediction list.
PredictionIndex index_predictions(const json& list, const std::string& file) {
  PredictionIndex out;
  if (list.is_null()) return out;
  SONO_CHECK(list.is_array(), "evaluate", file, " must hold a JSON list");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    SONO_CHECK(e.is_object() && e.contains("task_id") && e.contains("image_path"), "evaluate", file, " entry ", i,
               " lacks task_id or image_path");
    SONO_CHECK(e["task_id"].is_string() && e["image_path"].is_string(), "evaluate", file, " entry ", i,
               ": task_id and image_path must be strings");
    out[e["task_id"].get<std::string>()][e["image_path"].get<std::string>()] = e;
  }
  return out;
}

}  // namespace

PredictionIndex parse_prediction_file(const std::string& text, const std::string& file) {
  json list;
  try {
    list = json::parse(text);
  } catch (const std::exception& e) {
    throw Error(str_cat("evaluate: ", file, " is not valid JSON: ", e.what()));
  }
  return index_predictions(list, file);
}

PredictionIndex read_prediction_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream text;
  text << f.rdbuf();
  return parse_prediction_file(text.str(), path);
}

}  // namespace sono
