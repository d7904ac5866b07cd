#include "train/prediction_file.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "core/error.h"

namespace sono {

using nlohmann::json;

namespace {

// {task_id: {image_path: entry}} from a prediction list. A second entry for
// the same (task, image) is an error: which one to score would be a guess.
PredictionIndex index_predictions(const json& list, const std::string& file) {
  PredictionIndex out;
  std::map<std::pair<std::string, std::string>, size_t> first;  // (task, image) -> entry index
  if (list.is_null()) return out;
  SONO_CHECK(list.is_array(), "evaluate", file, " must hold a JSON list");
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    SONO_CHECK(e.is_object() && e.contains("task_id") && e.contains("image_path"), "evaluate", file, " entry ", i,
               " lacks task_id or image_path");
    SONO_CHECK(e["task_id"].is_string() && e["image_path"].is_string(), "evaluate", file, " entry ", i,
               ": task_id and image_path must be strings");
    const std::string task = e["task_id"].get<std::string>(), image = e["image_path"].get<std::string>();
    auto [it, fresh] = first.emplace(std::make_pair(task, image), i);
    SONO_CHECK(fresh, "evaluate", file, " entries ", it->second, " and ", i, " both predict task ", task, ", image ",
               image, ": keep one prediction per row");
    out[task][image] = e;
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
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  SONO_CHECK(std::filesystem::is_regular_file(path, ec), "evaluate", path, " is not a regular file");
  std::ifstream f(path, std::ios::binary);
  SONO_CHECK(f.good(), "evaluate", "cannot read ", path);
  std::ostringstream text;
  text << f.rdbuf();
  return parse_prediction_file(text.str(), path);
}

}  // namespace sono
