#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "data/csv.h"
#include "data/image.h"

namespace sono::data {

namespace fs = std::filesystem;

namespace {

// A problem with one row; becomes sono::Error (Stop) or a SkippedRow (Skip).
struct RowError {
  std::string message;
};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SONO_CHECK(in.good(), "read_dataset", "cannot open CSV file '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Column positions of one CSV file (-1 = absent).
struct Columns {
  int image_path = -1, task_id = -1, task_name = -1, num_classes = -1;
  std::map<std::string, int> by_name;  // trimmed header name -> column; point_<k>_xy also under its canonical k
  std::vector<std::string> names;

  int find(const std::string& name) const {
    auto it = by_name.find(name);
    return it == by_name.end() ? -1 : it->second;
  }
};

Columns map_columns(const CsvTable& t, const std::string& file) {
  Columns c;
  c.names = t.header;
  for (size_t i = 0; i < t.header.size(); ++i) {
    const std::string name = trim(t.header[i]);
    for (size_t j = 0; j < i; ++j)
      SONO_CHECK(trim(t.header[j]) != name, "read_dataset", file, ", line ", t.header_line, ": column '", name,
                 "' appears twice in the header");
    int col = int(i);
    c.by_name[name] = col;
    // point_<k>_xy: leading zeros name the same point
    if (name.size() > 9 && name.compare(0, 6, "point_") == 0 && name.compare(name.size() - 3, 3, "_xy") == 0) {
      std::string digits = name.substr(6, name.size() - 9);
      auto is_digit = [](unsigned char ch) { return std::isdigit(ch) != 0; };
      if (!digits.empty() && digits.size() < 10 && std::all_of(digits.begin(), digits.end(), is_digit))
        c.by_name[str_cat("point_", std::stoll(digits), "_xy")] = col;
    }
  }
  c.image_path = c.find("image_path");
  c.task_id = c.find("task_id");
  c.task_name = c.find("task_name");
  c.num_classes = c.find("num_classes");
  std::string all;  // for the message below
  for (const auto& h : t.header) all += (all.empty() ? "" : ", ") + h;
  const std::pair<const char*, int> required[] = {
      {"image_path", c.image_path}, {"task_id", c.task_id}, {"task_name", c.task_name}, {"num_classes", c.num_classes}};
  for (const auto& [name, col] : required)
    SONO_CHECK(col >= 0, "read_dataset", file, ", line ", t.header_line, ": the header has no column '", name,
               "' (columns: ", all, ")");
  return c;
}

// Reads one CSV row into a Sample; throws RowError.
class RowReader : public RowFields {
 public:
  RowReader(const std::string& file, const Columns& cols, const CsvRow& row, const fs::path& csv_dir)
      : file_(file), cols_(cols), row_(row), csv_dir_(csv_dir) {}

  [[noreturn]] void fail(int col, const std::string& what) const {
    std::string where = str_cat(file_, ", line ", row_.line);
    if (col >= 0) where += str_cat(", column '", cols_.names[size_t(col)], "'");
    throw RowError{str_cat("read_dataset: ", where, ": ", what)};
  }

  std::optional<std::string> get(int col) const {
    if (col < 0) return std::nullopt;
    std::string v = row_.fields[size_t(col)];
    if (trim(v).empty()) return std::nullopt;
    return v;
  }

  std::string require(int col, const char* name) const {
    if (col < 0) fail(-1, str_cat("missing column '", name, "'"));
    auto v = get(col);
    if (!v) fail(col, "missing value");
    return *v;
  }

  double number(int col, const std::string& text) const {
    std::string t = trim(text);
    char* end = nullptr;
    double v = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v))
      fail(col, str_cat("'", text, "' is not a number"));
    return v;
  }

  int64_t integer(int col, const std::string& text) const {
    double v = number(col, text);  // pandas writes "2.0" for integer columns that hold NaN
    if (v != std::floor(v) || std::abs(v) > 9e15) fail(col, str_cat("'", text, "' is not an integer"));
    return int64_t(v);
  }

  // "[x, y]" -> (x, y).
  void point(int col, const std::string& text, std::vector<double>& out) const {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
      fail(col, str_cat("'", text, "' is not a JSON point \"[x, y]\""));
    }
    if (!j.is_array() || j.size() != 2 || !j[0].is_number() || !j[1].is_number())
      fail(col, str_cat("'", text, "' is not a point \"[x, y]\" of two numbers"));
    for (int k = 0; k < 2; ++k) {
      double v = j[size_t(k)].get<double>();
      if (!std::isfinite(v)) fail(col, str_cat("'", text, "' has a non-finite coordinate"));
      out.push_back(v);
    }
  }

  // ---- RowFields, by column name (the task kind reads its target with these)
  std::optional<std::string> get(const std::string& column) const override { return get(cols_.find(column)); }
  std::string require(const std::string& column) const override { return require(cols_.find(column), column.c_str()); }
  double number(const std::string& column) const override {
    const int col = cols_.find(column);
    return number(col, require(col, column.c_str()));
  }
  int64_t integer(const std::string& column) const override {
    const int col = cols_.find(column);
    return integer(col, require(col, column.c_str()));
  }
  void point(const std::string& column, std::vector<double>& out) const override {
    const int col = cols_.find(column);
    point(col, require(col, column.c_str()), out);
  }
  std::string resolve(const std::string& relative) const override {
    return (csv_dir_ / relative).lexically_normal().string();
  }
  [[noreturn]] void fail(const std::string& column, const std::string& what) const override {
    fail(cols_.find(column), what);
  }

  // The fields every row has; the task's own fields come from read_targets().
  Sample read_common() const {
    const fs::path& csv_dir = csv_dir_;
    if (!row_.error.empty()) fail(-1, str_cat("malformed CSV row: ", row_.error));
    Sample s;
    s.csv_file = file_;
    s.line = row_.line;
    s.csv_image_path = require(cols_.image_path, "image_path");
    s.image_path = (csv_dir / s.csv_image_path).lexically_normal().string();
    require(cols_.task_id, "task_id");
    std::string type = trim(require(cols_.task_name, "task_name"));
    if (!try_parse_task_type(type, s.type))
      fail(cols_.task_name,
           str_cat("unknown task_name '", type, "' (expected segmentation, classification, detection or Regression)"));
    s.num_classes = integer(cols_.num_classes, require(cols_.num_classes, "num_classes"));
    if (s.num_classes < 1) fail(cols_.num_classes, str_cat("num_classes must be >= 1, got ", s.num_classes));
    return s;
  }

  void read_targets(Sample& s, const TargetCodec& codec, Targets targets) const {
    // Prediction: a row may lack its target (test CSVs); any target that is
    // present is still read and checked.
    if (targets == Targets::Optional && !codec.row_has_target(*this)) {
      s.has_target = false;
      return;
    }
    codec.read_target(*this, s);
  }

  std::string task_id() const { return trim(*get(cols_.task_id)); }

 private:
  const std::string& file_;
  const Columns& cols_;
  const CsvRow& row_;
  const fs::path& csv_dir_;
};

// The index of the row's task in ds.tasks (-1 when new), after checking the
// row agrees with the task's first row.
int64_t check_task(const Dataset& ds, const std::vector<Sample>& first_rows, const std::string& id, const Sample& s,
                   const RowReader& reader, const Columns& cols) {
  int64_t t = ds.find_task(id);
  if (t < 0) return t;
  const TaskInfo& info = ds.tasks[size_t(t)];
  const Sample& first = first_rows[size_t(t)];
  if (info.type != s.type)
    reader.fail(cols.task_name, str_cat("task '", id, "' is '", task_type_name(s.type), "' here but '",
                                        task_type_name(info.type), "' at ", row_location(first)));
  if (info.num_classes != s.num_classes)
    reader.fail(cols.num_classes, str_cat("task '", id, "' has num_classes ", s.num_classes, " here but ",
                                          info.num_classes, " at ", row_location(first)));
  return t;
}

void report(Dataset& ds, OnBadRow policy, const std::string& file, int64_t line, const std::string& message) {
  if (policy == OnBadRow::Stop) throw Error(message);
  ds.skipped.push_back({file, line, message});
}

}  // namespace

const TargetCodec& Dataset::codec(int64_t task) const {
  SONO_CHECK(codecs != nullptr, "dataset", "no target codecs (the dataset was not made by read_dataset)");
  SONO_CHECK(task >= 0 && task < int64_t(tasks.size()), "dataset", "task index ", task, " is outside the ",
             tasks.size(), " tasks");
  return codecs(tasks[size_t(task)].type);
}

int64_t Dataset::find_task(const std::string& id) const {
  for (size_t i = 0; i < tasks.size(); ++i)
    if (tasks[i].id == id) return int64_t(i);
  return -1;
}

Dataset read_csv_files(const std::vector<std::string>& files, TargetCodecs codecs, OnBadRow policy, Targets targets) {
  SONO_CHECK(codecs != nullptr, "read_dataset", "no target codecs given (pass tasks::target_codec)");
  Dataset ds;
  ds.codecs = codecs;
  std::vector<Sample> first_rows;  // the row that introduced each task, for messages
  for (const std::string& file : files) {
    const CsvTable table = parse_csv(read_text(file));
    SONO_CHECK(table.header_error.empty(), "read_dataset", file, ", line ", table.header_line,
               ": malformed header: ", table.header_error);
    ds.csv_files.push_back(file);
    if (table.header.empty() || table.rows.empty()) {
      ds.warnings.push_back(str_cat(file, ": ", table.header.empty() ? "empty file" : "header only, no rows",
                                    ": nothing is read from it"));
      if (table.header.empty()) continue;
    }
    const Columns cols = map_columns(table, file);
    const fs::path dir = fs::path(file).parent_path();
    for (const CsvRow& row : table.rows) {
      RowReader reader(file, cols, row, dir);
      try {
        Sample s = reader.read_common();
        const std::string id = reader.task_id();
        s.task = check_task(ds, first_rows, id, s, reader, cols);
        reader.read_targets(s, codecs(s.type), targets);
        if (s.task < 0) {  // a new task, registered once a row of it is accepted
          ds.tasks.push_back({id, s.type, s.num_classes});
          first_rows.push_back(s);
          s.task = int64_t(ds.tasks.size()) - 1;
        }
        ds.samples.push_back(std::move(s));
      } catch (const RowError& e) {
        report(ds, policy, file, row.line, e.message);
      }
    }
  }
  return ds;
}

CsvOrder parse_csv_order(const std::string& name) {
  if (name == "sorted") return CsvOrder::Sorted;
  if (name == "directory") return CsvOrder::Directory;
  throw Error(str_cat("read_dataset: unknown CSV order '", name, "' (sorted or directory)"));
}

const char* csv_order_name(CsvOrder order) { return order == CsvOrder::Sorted ? "sorted" : "directory"; }

std::vector<std::string> order_csv_files(std::vector<std::string> listing, CsvOrder order) {
  std::vector<std::string> files;
  for (std::string& f : listing)
    if (fs::path(f).extension() == ".csv") files.push_back(std::move(f));
  if (order == CsvOrder::Sorted) std::sort(files.begin(), files.end());
  return files;
}

Dataset read_dataset(const std::string& root, TargetCodecs codecs, OnBadRow policy, Targets targets, CsvOrder order) {
  const fs::path dir = fs::path(root) / "csv_files";
  SONO_CHECK(fs::is_directory(dir), "read_dataset", "'", dir.string(), "' is not a directory (a dataset root holds ",
             "csv_files/*.csv)");
  std::vector<std::string> listing;  // readdir's order (libstdc++'s directory_iterator is readdir)
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) listing.push_back(e.path().string());
  const std::vector<std::string> files = order_csv_files(std::move(listing), order);
  SONO_CHECK(!files.empty(), "read_dataset", "no .csv files in '", dir.string(), "'");
  Dataset ds = read_csv_files(files, codecs, policy, targets);
  ds.root = root;
  ds.csv_order = order;
  return ds;
}

void check_box_in_image(const Sample& s, int64_t height, int64_t width) {
  if (!s.has_box) return;  // only detection rows have a box
  const Box& b = s.box;
  SONO_CHECK(
      b.x_min >= 0 && b.x_min < b.x_max && b.x_max <= width && b.y_min >= 0 && b.y_min < b.y_max && b.y_max <= height,
      "check_box_in_image", row_location(s), ", columns 'x_min'..'y_max': box [", b.x_min, ", ", b.y_min, ", ", b.x_max,
      ", ", b.y_max, "] does not lie inside image '", s.image_path, "' of width ", width, " and height ", height,
      " (need 0 <= x_min < x_max <= width, 0 <= y_min < y_max <= height)");
}

void check_images(Dataset& ds, OnBadRow policy) {
  std::map<std::string, ImageInfo> seen;  // images shared by several tasks are read once
  std::vector<bool> bad(ds.samples.size(), false);
  for (size_t i = 0; i < ds.samples.size(); ++i) {
    const Sample& s = ds.samples[i];
    try {
      auto it = seen.find(s.image_path);
      if (it == seen.end()) it = seen.emplace(s.image_path, read_image_info(s.image_path)).first;
      check_box_in_image(s, it->second.height, it->second.width);
    } catch (const Error& e) {
      std::string msg = e.what();
      if (msg.find(s.csv_file) == std::string::npos) msg = str_cat(row_location(s), ": ", msg);
      report(ds, policy, s.csv_file, s.line, msg);
      bad[i] = true;
    }
  }
  size_t out = 0;
  for (size_t i = 0; i < ds.samples.size(); ++i) {
    if (bad[i]) continue;
    if (out != i) ds.samples[out] = std::move(ds.samples[i]);
    ++out;
  }
  ds.samples.resize(out);
}

}  // namespace sono::data
