#include <doctest/doctest.h>

#include <dirent.h>

#include <algorithm>

#include "data/csv.h"
#include "data/dataset.h"
#include "data/image.h"
#include "tasks/dataset.h"
#include "tests/data/data_test_util.h"

using namespace sono;
using namespace sono::data;
using sono::data::test::TempDir;
using sono::data::test::write_file;
namespace fs = std::filesystem;

TEST_CASE("csv: RFC 4180 quoting, CRLF, BOM and blank lines") {
  const std::string text =
      "\xEF\xBB\xBF"
      "a,b,c\r\n"
      "1,\"[2, 3]\",x\r\n"
      "\n"
      "\"he said \"\"hi\"\"\",,\"two\nlines\"\n"
      "4,5,6";
  CsvTable t = parse_csv(text);
  CHECK(t.header_error.empty());
  CHECK(t.header == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(t.rows.size() == 3);
  CHECK(t.rows[0].fields == std::vector<std::string>{"1", "[2, 3]", "x"});
  CHECK(t.rows[0].line == 2);
  CHECK(t.rows[1].fields == std::vector<std::string>{"he said \"hi\"", "", "two\nlines"});
  CHECK(t.rows[1].line == 4);  // line 3 is blank
  CHECK(t.rows[2].line == 6);  // the quoted line break counts
  CHECK(t.rows[2].fields == std::vector<std::string>{"4", "5", "6"});
  for (const auto& r : t.rows) CHECK(r.error.empty());
}

TEST_CASE("csv: malformed rows carry an error, the rest still parses") {
  CsvTable t = parse_csv("a,b\n1,2,3\nx\"y,2\n\"q\"z,2\n5,6\n\"open,7\n");
  REQUIRE(t.rows.size() == 5);
  CHECK(t.rows[0].error.find("expected 2 fields") != std::string::npos);
  CHECK(t.rows[1].error.find("quote inside unquoted field 1") != std::string::npos);
  CHECK(t.rows[2].error.find("after the closing quote") != std::string::npos);
  CHECK(t.rows[3].error.empty());
  CHECK(t.rows[3].fields == std::vector<std::string>{"5", "6"});
  CHECK(t.rows[4].error.find("unterminated") != std::string::npos);
  CHECK(t.rows[4].line == 6);
  CHECK_FALSE(parse_csv("\"a,b\n").header_error.empty());
}

namespace {

// A dataset folder with the given CSV files under csv_files/.
struct CsvDataset {
  TempDir dir{"csv"};
  void add(const std::string& name, const std::string& text) { write_file(dir / ("csv_files/" + name), text); }
  std::string root() const { return dir.str(); }
  std::string csv(const std::string& name) const { return (dir / ("csv_files/" + name)).string(); }
};

}  // namespace

TEST_CASE("read_dataset: columns in any order, missing values, task discovery") {
  CsvDataset d;
  // Files are read in name order: a_seg, b_cls, c_det, d_reg.
  d.add("d_reg.csv",
        "image_path,point_1_xy,point_2_xy,task_id,task_name,num_classes\n"
        "../img/r0.png,\"[431.02, 126.32]\",\"[136.89, 257.84]\",reg,regression,2\n");
  d.add("a_seg.csv",
        "task_id,image_path,mask_path,task_name,num_classes\n"
        "seg,../img/s0.png,../masks/s0.png,Segmentation,3\n"
        "seg,sub/../../img/s1.png,../masks/s1.png,segmentation,3\n");
  d.add("b_cls.csv",
        "image_path,mask,task_id,task_name,num_classes\n"
        "../img/c0.png,1,cls,CLASSIFICATION,2\n"
        "../img/c1.png,0.0,cls,classification,2.0\n");
  d.add("c_det.csv",
        "image_path,x_min,y_min,x_max,y_max,task_id,task_name,num_classes\n"
        "../img/d0.png,1,2,30.5,40,det,detection,1\n"
        "../img/d1.png,,,,,det,detection,1\n");
  Dataset ds = tasks::read_dataset(d.root());
  CHECK(ds.skipped.empty());
  REQUIRE(ds.tasks.size() == 4);
  CHECK(ds.tasks[0].id == "seg");
  CHECK(ds.tasks[0].type == TaskType::Segmentation);
  CHECK(ds.tasks[0].num_classes == 3);
  CHECK(ds.tasks[1].id == "cls");
  CHECK(ds.tasks[2].id == "det");
  CHECK(ds.tasks[3].id == "reg");
  CHECK(ds.tasks[3].type == TaskType::Regression);
  REQUIRE(ds.samples.size() == 7);

  const fs::path root(d.root());
  const Sample& s1 = ds.samples[1];
  CHECK(s1.task == 0);
  CHECK(s1.csv_image_path == "sub/../../img/s1.png");
  CHECK(s1.image_path == (root / "img/s1.png").string());
  CHECK(s1.mask_path == (root / "masks/s1.png").string());
  CHECK(s1.csv_file == d.csv("a_seg.csv"));
  CHECK(s1.line == 3);

  CHECK(ds.samples[2].label == 1);
  CHECK(ds.samples[3].label == 0);  // "0.0" as pandas writes integer columns with NaN
  CHECK(ds.samples[4].has_box);
  CHECK(ds.samples[4].box.x_min == 1);
  CHECK(ds.samples[4].box.x_max == 30.5);
  CHECK(ds.samples[4].box.y_max == 40);
  CHECK_FALSE(ds.samples[5].has_box);
  CHECK(ds.samples[6].points == std::vector<double>{431.02, 126.32, 136.89, 257.84});
  CHECK(ds.samples[6].num_classes == 2);
  CHECK(ds.find_task("det") == 2);
  CHECK(ds.find_task("nope") == -1);
}

namespace {

// Reads a one-file dataset whose second data row (line 3) is `bad_row`.
void check_row_error(const std::string& header, const std::string& good_row, const std::string& bad_row,
                     const std::string& column, const std::string& what) {
  CAPTURE(bad_row);
  CsvDataset d;
  d.add("t.csv", header + "\n" + good_row + "\n" + bad_row + "\n");
  std::string msg;
  try {
    tasks::read_dataset(d.root());
  } catch (const Error& e) {
    msg = e.what();
  }
  CAPTURE(msg);
  CHECK(msg.find(d.csv("t.csv") + ", line 3") != std::string::npos);
  if (!column.empty()) CHECK(msg.find("column '" + column + "'") != std::string::npos);
  CHECK(msg.find(what) != std::string::npos);
  // The skip policy keeps the good row and reports the bad one.
  Dataset ds = tasks::read_dataset(d.root(), OnBadRow::Skip);
  CHECK(ds.samples.size() == 1);
  REQUIRE(ds.skipped.size() == 1);
  CHECK(ds.skipped[0].line == 3);
  CHECK(ds.skipped[0].file == d.csv("t.csv"));
  CHECK(ds.skipped[0].reason == msg);
}

}  // namespace

TEST_CASE("read_dataset: errors name the file, the line and the column") {
  const std::string cls = "image_path,mask,task_id,task_name,num_classes";
  const std::string ok = "a.png,1,t,classification,2";
  check_row_error(cls, ok, "a.png,2,t,classification,2", "mask", "label 2 is outside [0, num_classes = 2)");
  check_row_error(cls, ok, "a.png,1,t,classifcation,2", "task_name", "unknown task_name 'classifcation'");
  check_row_error(cls, ok, "a.png,1,t,classification", "", "malformed CSV row: expected 5 fields");
  check_row_error(cls, ok, "a.png,\"1\"x,t,classification,2", "", "malformed CSV row");
  check_row_error(cls, ok, "a.png,1,t,classification,3", "num_classes", "has num_classes 3 here but 2 at");
  check_row_error(cls, ok, "a.png,1,t,segmentation,2", "task_name", "is 'segmentation' here but 'classification'");
  check_row_error(cls, ok, "a.png,1,t,classification,two", "num_classes", "'two' is not a number");
  check_row_error(cls, ok, "a.png,1.5,t,classification,2", "mask", "'1.5' is not an integer");
  check_row_error(cls, ok, "a.png,,t,classification,2", "mask", "missing value");
  check_row_error(cls, ok, ",1,t,classification,2", "image_path", "missing value");

  const std::string det = "image_path,x_min,y_min,x_max,y_max,task_id,task_name,num_classes";
  const std::string det_ok = "a.png,1,2,3,4,d,detection,1";
  check_row_error(det, det_ok, "a.png,5,2,3,4,d,detection,1", "x_max", "x_max 3 must be > x_min 5");
  check_row_error(det, det_ok, "a.png,1,2,3,,d,detection,1", "y_max", "box is incomplete");
  check_row_error(det, det_ok, "a.png,-1,2,3,4,d,detection,1", "x_min", "must be >= 0");

  const std::string reg = "image_path,point_1_xy,point_2_xy,task_id,task_name,num_classes";
  const std::string reg_ok = "a.png,\"[1, 2]\",\"[3, 4]\",r,Regression,2";
  check_row_error(reg, reg_ok, "a.png,\"[1, 2]\",\"[3 4]\",r,Regression,2", "point_2_xy", "is not a JSON point");
  check_row_error(reg, reg_ok, "a.png,\"[1, 2]\",\"[3, \"\"x\"\"]\",r,Regression,2", "point_2_xy", "two numbers");
  check_row_error(reg, reg_ok, "a.png,\"[1, 2]\",,r,Regression,2", "point_2_xy", "missing value");
  check_row_error("image_path,point_1_xy,task_id,task_name,num_classes", "a.png,\"[1, 2]\",r,Regression,1",
                  "a.png,\"[1, 2]\",r,Regression,1,", "", "expected 5 fields");
}

TEST_CASE("read_dataset: file-level errors") {
  {
    CsvDataset d;
    d.add("t.csv", "image_path,task_id,num_classes\na.png,t,2\n");
    CHECK_THROWS_WITH_AS(tasks::read_dataset(d.root(), OnBadRow::Skip), doctest::Contains("no column 'task_name'"),
                         Error);
  }
  {
    CsvDataset d;
    d.add("r.csv", "image_path,point_1_xy,task_id,task_name,num_classes\na.png,\"[1, 2]\",r,Regression,2\n");
    CHECK_THROWS_WITH_AS(tasks::read_dataset(d.root()), doctest::Contains("missing column 'point_2_xy'"), Error);
  }
  {
    CsvDataset d;
    d.add("t.csv", "image_path,task_id,task_id,task_name,num_classes\n");
    CHECK_THROWS_WITH_AS(tasks::read_dataset(d.root()), doctest::Contains("'task_id' appears twice"), Error);
  }
  TempDir empty("empty");
  CHECK_THROWS_WITH_AS(tasks::read_dataset(empty.str()), doctest::Contains("is not a directory"), Error);
  fs::create_directories(empty / "csv_files");
  CHECK_THROWS_WITH_AS(tasks::read_dataset(empty.str()), doctest::Contains("no .csv files"), Error);
}

TEST_CASE("read_dataset: skip policy collects every bad row") {
  CsvDataset d;
  d.add("a.csv",
        "image_path,mask,task_id,task_name,num_classes\n"
        "a.png,0,t,classification,2\n"
        "a.png,7,t,classification,2\n"
        "a.png,1,t,classification,2\n"
        "a.png,1,t,nonsense,2\n"
        "a.png,1,u,classification\n");
  d.add("b.csv", "image_path,mask,task_id,task_name,num_classes\nb.png,1,u,classification,4\n");
  CHECK_THROWS_AS(tasks::read_dataset(d.root()), Error);
  Dataset ds = tasks::read_dataset(d.root(), OnBadRow::Skip);
  CHECK(ds.samples.size() == 3);
  REQUIRE(ds.skipped.size() == 3);
  CHECK(ds.skipped[0].line == 3);
  CHECK(ds.skipped[1].line == 5);
  CHECK(ds.skipped[2].line == 6);
  // Task 'u' first appears in b.csv because its row in a.csv was skipped.
  REQUIRE(ds.tasks.size() == 2);
  CHECK(ds.tasks[1].id == "u");
  CHECK(ds.tasks[1].num_classes == 4);
}

TEST_CASE("check_images: boxes must lie inside their image") {
  CsvDataset d;
  Image img(10, 20, 1);  // height 10, width 20
  fs::create_directories(d.dir / "img");
  write_png((d.dir / "img/a.png").string(), img);
  d.add("det.csv",
        "image_path,x_min,y_min,x_max,y_max,task_id,task_name,num_classes\n"
        "../img/a.png,0,0,20,10,d,detection,1\n"
        "../img/a.png,0,0,21,10,d,detection,1\n"
        "../img/missing.png,0,0,5,5,d,detection,1\n"
        "../img/a.png,,,,,d,detection,1\n");
  Dataset ds = tasks::read_dataset(d.root());
  REQUIRE(ds.samples.size() == 4);
  Dataset strict = ds;
  const std::string where = d.csv("det.csv") + ", line 3";
  CHECK_THROWS_WITH_AS(check_images(strict), doctest::Contains(where.c_str()), Error);
  strict = ds;
  CHECK_THROWS_WITH_AS(check_images(strict), doctest::Contains("of width 20 and height 10"), Error);
  check_images(ds, OnBadRow::Skip);
  REQUIRE(ds.samples.size() == 2);
  CHECK(ds.samples[0].line == 2);  // the kept samples are intact
  CHECK(ds.samples[1].line == 5);
  CHECK(ds.samples[1].image_path == (d.dir / "img/a.png").string());
  REQUIRE(ds.skipped.size() == 2);
  CHECK(ds.skipped[0].line == 3);
  CHECK(ds.skipped[1].line == 4);
  CHECK(ds.skipped[1].reason.find("missing.png") != std::string::npos);
}

TEST_CASE("read_dataset: an empty or header-only CSV is named in the warnings") {
  CsvDataset d;
  d.add("a.csv", "image_path,mask,task_id,task_name,num_classes\na.png,0,t,classification,2\n");
  d.add("b.csv", "");
  d.add("c.csv", "image_path,mask,task_id,task_name,num_classes\n");
  Dataset ds = tasks::read_dataset(d.root());
  CHECK(ds.samples.size() == 1);
  REQUIRE(ds.warnings.size() == 2);
  CHECK(ds.warnings[0] == d.csv("b.csv") + ": empty file: nothing is read from it");
  CHECK(ds.warnings[1] == d.csv("c.csv") + ": header only, no rows: nothing is read from it");
  CHECK(ds.csv_files.size() == 3);
}

TEST_CASE("order_csv_files: sorted by name, or the directory listing's own order") {
  const std::vector<std::string> listing = {"d/thyroid.csv", "d/notes.txt", "d/hc18.csv", "d/breast.csv"};
  CHECK(order_csv_files(listing, CsvOrder::Sorted) ==
        std::vector<std::string>{"d/breast.csv", "d/hc18.csv", "d/thyroid.csv"});
  CHECK(order_csv_files(listing, CsvOrder::Directory) ==
        std::vector<std::string>{"d/thyroid.csv", "d/hc18.csv", "d/breast.csv"});
  CHECK(parse_csv_order("directory") == CsvOrder::Directory);
  CHECK_THROWS_WITH_AS(parse_csv_order("glob"), doctest::Contains("'glob'"), Error);
}

TEST_CASE("read_dataset: CsvOrder::Directory reads the files in readdir's order") {
  CsvDataset d;
  // Enough files that readdir's order (hash or creation order) differs from
  // the names' order on any common file system.
  const std::string header = "image_path,mask,task_id,task_name,num_classes\n";
  for (int i = 0; i < 12; ++i) {
    const std::string name = str_cat(char('a' + (i * 5) % 12), "_task.csv");
    d.add(name, header + str_cat("x.png,0,", name.substr(0, 1), ",classification,2\n"));
  }
  std::vector<std::string> readdir_order;  // the listing, independently of the reader
  DIR* dir = opendir((d.dir / "csv_files").c_str());
  REQUIRE(dir != nullptr);
  while (dirent* e = readdir(dir)) {
    const std::string n = e->d_name;
    if (n.size() > 4 && n.substr(n.size() - 4) == ".csv") readdir_order.push_back(n.substr(0, 1));
  }
  closedir(dir);
  std::vector<std::string> sorted = readdir_order;
  std::sort(sorted.begin(), sorted.end());
  REQUIRE(sorted.size() == 12);
  CHECK(readdir_order != sorted);  // the test would prove nothing on a file system that lists sorted

  auto task_order = [](const Dataset& ds) {
    std::vector<std::string> ids;
    for (const auto& t : ds.tasks) ids.push_back(t.id);
    return ids;
  };
  Dataset by_dir = tasks::read_dataset(d.root(), OnBadRow::Stop, Targets::Required, CsvOrder::Directory);
  Dataset by_name = tasks::read_dataset(d.root());
  CHECK(task_order(by_dir) == readdir_order);
  CHECK(task_order(by_name) == sorted);
  CHECK(by_dir.csv_order == CsvOrder::Directory);
}
