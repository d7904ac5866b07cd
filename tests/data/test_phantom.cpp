#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "data/dataset.h"
#include "data/image.h"
#include "data/phantom.h"
#include "tasks/dataset.h"
#include "tests/data/data_test_util.h"

using namespace sono;
using namespace sono::data;
using sono::data::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("phantom: read_dataset returns exactly the generator's ground truth") {
  TempDir dir("phantom");
  PhantomOptions opt;
  opt.images_per_task = 6;
  opt.det_rows_without_box = 2;
  opt.seed = 5;
  const std::vector<PhantomRow> truth = write_phantom_dataset(dir.str(), opt);
  Dataset ds = tasks::read_dataset(dir.str());
  check_images(ds);
  CHECK(ds.skipped.empty());
  REQUIRE(ds.samples.size() == truth.size());
  REQUIRE(ds.tasks.size() == 5);
  const char* ids[] = {"phantom_cls", "phantom_det", "phantom_reg", "phantom_seg", "phantom_seg3"};
  const int64_t classes[] = {3, 1, 2, 2, 3};
  for (size_t t = 0; t < 5; ++t) {
    CHECK(ds.tasks[t].id == ids[t]);
    CHECK(ds.tasks[t].num_classes == classes[t]);
  }
  const fs::path csv_dir = dir / "csv_files";
  int boxes = 0, no_boxes = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    const PhantomRow& g = truth[i];
    const Sample& s = ds.samples[i];
    CAPTURE(i);
    CHECK(ds.tasks[size_t(s.task)].id == g.task_id);
    CHECK(s.type == g.type);
    CHECK(s.num_classes == g.num_classes);
    CHECK(s.csv_image_path == g.image_path);
    CHECK(s.image_path == (csv_dir / g.image_path).lexically_normal().string());
    ImageInfo info = read_image_info(s.image_path);
    CHECK(info.height == g.height);
    CHECK(info.width == g.width);
    CHECK(g.height >= opt.min_size);
    CHECK(g.width <= opt.max_size);
    switch (g.type) {
      case TaskType::Segmentation: {
        CHECK(s.mask_path == (csv_dir / g.mask_path).lexically_normal().string());
        Image mask = read_mask(s.mask_path, s.num_classes);
        CHECK(mask.height == g.height);
        CHECK(mask.width == g.width);
        std::vector<int64_t> count(size_t(s.num_classes), 0);
        for (uint8_t v : mask.pixels) ++count[v];
        for (int64_t c = 1; c < s.num_classes; ++c) CHECK(count[size_t(c)] > 50);  // every class present
        break;
      }
      case TaskType::Classification:
        CHECK(s.label == g.label);
        CHECK(g.label >= 0);
        CHECK(g.label < 3);
        break;
      case TaskType::Detection:
        CHECK(s.has_box == g.has_box);
        if (g.has_box) {
          ++boxes;
          CHECK(s.box.x_min == g.box.x_min);
          CHECK(s.box.y_min == g.box.y_min);
          CHECK(s.box.x_max == g.box.x_max);
          CHECK(s.box.y_max == g.box.y_max);
        } else {
          ++no_boxes;
        }
        break;
      case TaskType::Regression: CHECK(s.points == g.points); break;
    }
  }
  CHECK(boxes == 6);
  CHECK(no_boxes == 2);

  // The detection box is the tight box of the same image's lesion mask, and
  // the regression points lie on the lesion's border (ends of the minor axis).
  for (size_t i = 0; i < truth.size(); ++i) {
    if (truth[i].task_id != "phantom_det" || !truth[i].has_box) continue;
    const std::string image = truth[i].image_path;
    const PhantomRow* seg = nullptr;
    const PhantomRow* reg = nullptr;
    for (const PhantomRow& r : truth) {
      if (r.image_path != image) continue;
      if (r.task_id == "phantom_seg") seg = &r;
      if (r.task_id == "phantom_reg") reg = &r;
    }
    REQUIRE(seg != nullptr);
    REQUIRE(reg != nullptr);
    Image mask = read_mask((csv_dir / seg->mask_path).string(), 2);
    int64_t x0 = mask.width, y0 = mask.height, x1 = 0, y1 = 0;
    for (int64_t y = 0; y < mask.height; ++y)
      for (int64_t x = 0; x < mask.width; ++x)
        if (mask.at(y, x))
          x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x + 1), y1 = std::max(y1, y + 1);
    CHECK(truth[i].box.x_min == x0);
    CHECK(truth[i].box.y_min == y0);
    CHECK(truth[i].box.x_max == x1);
    CHECK(truth[i].box.y_max == y1);
    CHECK(reg->points[1] <= reg->points[3]);  // upper point first
    for (int p = 0; p < 2; ++p) {
      const int64_t px = std::lround(reg->points[size_t(2 * p)]), py = std::lround(reg->points[size_t(2 * p + 1)]);
      bool in = false, out = false;  // a lesion and a background pixel within 2 px
      for (int64_t dy = -2; dy <= 2; ++dy)
        for (int64_t dx = -2; dx <= 2; ++dx) {
          int64_t y = py + dy, x = px + dx;
          if (y < 0 || x < 0 || y >= mask.height || x >= mask.width) continue;
          (mask.at(y, x) ? in : out) = true;
        }
      CHECK((in && out));
    }
  }
}

TEST_CASE("phantom: deterministic in the seed") {
  TempDir a("phantom_a"), b("phantom_b"), c("phantom_c");
  PhantomOptions opt;
  opt.images_per_task = 2;
  opt.min_size = 64;
  opt.max_size = 90;
  write_phantom_dataset(a.str(), opt);
  write_phantom_dataset(b.str(), opt);
  opt.seed = 1;
  write_phantom_dataset(c.str(), opt);
  for (const char* f : {"images/lesion/1.png", "masks/two/0.png", "images/blobs/1.png", "csv_files/phantom_reg.csv"}) {
    CAPTURE(f);
    CHECK(file_bytes(a / f) == file_bytes(b / f));
    CHECK(file_bytes(a / f) != file_bytes(c / f));
  }
  CHECK_THROWS_WITH_AS(write_phantom_dataset(a.str(), PhantomOptions{0}), doctest::Contains("images_per_task"), Error);
}
