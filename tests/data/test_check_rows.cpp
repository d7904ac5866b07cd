#include <doctest/doctest.h>

#include <fstream>
#include <iterator>

#include "data/batch.h"
#include "data/check_rows.h"
#include "data/phantom.h"
#include "tasks/dataset.h"
#include "tests/data/data_test_util.h"

using namespace sono;
using namespace sono::data;
using sono::data::test::read_all;
using sono::data::test::TempDir;
using sono::data::test::write_file;
namespace fs = std::filesystem;

namespace {

const Sample& first_of(const Dataset& ds, const std::string& task) {
  for (const Sample& s : ds.samples)
    if (ds.tasks[size_t(s.task)].id == task) return s;
  throw Error("no row of " + task);
}

}  // namespace

TEST_CASE("check_rows: rows that fail only when decoded are skipped with their file, line and problem") {
  TempDir dir("check_rows");
  PhantomOptions po;
  po.images_per_task = 4;
  po.min_size = 40;
  po.max_size = 64;
  write_phantom_dataset(dir.str(), po);
  Dataset ds = tasks::read_dataset(dir.str());
  // Three rows that pass the CSV and header checks but cannot be built into a batch:
  const Sample seg = first_of(ds, "phantom_seg"), seg3 = first_of(ds, "phantom_seg3"),
               cls = first_of(ds, "phantom_cls");
  Image m255 = read_mask(seg.mask_path, 2);
  m255.at(0, 0) = 255;  // a class value out of range
  write_png(seg.mask_path, m255);
  write_png(seg3.mask_path, Image(7, 9, 1));  // the wrong size
  const std::string png = read_all(cls.image_path);
  write_file(cls.image_path, png.substr(0, png.size() / 2));  // a truncated body

  check_images(ds);  // the headers are fine
  const size_t rows = ds.samples.size();
  // Without the skip policy the loader's batch stops at the row, naming the file and line.
  for (const Sample* s : {&seg, &seg3, &cls}) {
    int64_t r = -1;
    for (size_t i = 0; i < ds.samples.size(); ++i)
      if (ds.samples[i].csv_file == s->csv_file && ds.samples[i].line == s->line) r = int64_t(i);
    REQUIRE(r >= 0);
    BatchOptions bo;
    bo.image_size = 64;
    const std::string where = row_location(*s);
    CHECK_THROWS_WITH_AS(build_batch(ds, PlannedBatch{s->task, {r}}, 0, 0, bo, nullptr),
                         doctest::Contains(where.c_str()), Error);
  }

  ImageCache cache;
  check_rows(ds, 64, &cache, 3);
  CHECK(ds.samples.size() == rows - 3);
  REQUIRE(ds.skipped.size() == 3);
  auto skipped = [&](const Sample& s) -> std::string {
    for (const auto& k : ds.skipped)
      if (k.file == s.csv_file && k.line == s.line) return k.reason;
    return "";
  };
  CHECK(skipped(seg).find(row_location(seg)) == 0);
  CHECK(skipped(seg).find("holds value 255") != std::string::npos);
  CHECK(skipped(seg3).find("is 9x7 (width x height)") != std::string::npos);
  CHECK(skipped(cls).find("is truncated") != std::string::npos);
  for (const Sample& s : ds.samples) CHECK(!(s.csv_file == seg.csv_file && s.line == seg.line));
  CHECK(cache.misses() > 0);  // the good rows' images are cached, as the first epoch would
  // The result does not depend on the number of threads.
  Dataset again = tasks::read_dataset(dir.str());
  check_rows(again, 64, nullptr, 1);
  REQUIRE(again.skipped.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(again.skipped[i].line == ds.skipped[i].line);
}
