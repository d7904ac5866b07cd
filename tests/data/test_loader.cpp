#include <doctest/doctest.h>

#include <cstring>
#include <set>

#include "data/augment.h"
#include "data/loader.h"
#include "data/phantom.h"
#include "data/resize.h"
#include "tasks/dataset.h"
#include "tests/data/data_test_util.h"

using namespace sono;
using namespace sono::data;
using sono::data::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A small phantom dataset, written once for all loader tests.
struct Fixture {
  TempDir dir{"loader"};
  Dataset ds;
  Fixture() {
    PhantomOptions opt;
    opt.images_per_task = 8;
    opt.min_size = 60;
    opt.max_size = 110;
    opt.det_rows_without_box = 1;
    write_phantom_dataset(dir.str(), opt);
    ds = tasks::read_dataset(dir.str());
  }
};

const Fixture& fixture() {
  static Fixture f;
  return f;
}

std::vector<int64_t> all_rows(const Dataset& ds) {
  std::vector<int64_t> r(ds.samples.size());
  for (size_t i = 0; i < r.size(); ++i) r[i] = int64_t(i);
  return r;
}

LoaderOptions options(int workers) {
  LoaderOptions o;
  o.num_workers = workers;
  o.prefetch = 3;
  o.batch.image_size = 48;
  o.batch.augment = true;
  o.batch.augment_options.brightness_contrast_p = 0.5;  // more augmented examples than the defaults
  o.batch.augment_options.noise_p = 0.5;
  o.batch.seed = 9;
  return o;
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  if (a.defined() != b.defined()) return false;
  if (!a.defined()) return true;
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  return std::memcmp(a.raw_data(), b.raw_data(), size_t(a.numel()) * dtype_size(a.dtype())) == 0;
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.step == b.step && a.task == b.task && a.rows == b.rows && a.heights == b.heights && a.widths == b.widths &&
         same_tensor(a.images, b.images) && same_tensor(a.masks, b.masks) && same_tensor(a.labels, b.labels) &&
         same_tensor(a.boxes, b.boxes) && same_tensor(a.points, b.points);
}

// Two epochs of the task sampler through a loader.
std::vector<Batch> run_epochs(int workers, std::shared_ptr<ImageCache> cache) {
  const Dataset& ds = fixture().ds;
  TaskSampler sampler(ds.samples, all_rows(ds), 4, 3);
  Loader loader(ds, options(workers), cache);
  std::vector<Batch> out;
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    loader.start(sampler.epoch(), epoch);
    Batch b;
    while (loader.next(b)) out.push_back(std::move(b));
  }
  return out;
}

}  // namespace

TEST_CASE("loader: identical batches for 0, 1 and 3 workers, with and without the cache") {
  std::vector<Batch> ref = run_epochs(0, nullptr);
  REQUIRE(ref.size() == 2 * (fixture().ds.samples.size() / 4));
  std::set<int64_t> tasks;
  for (const Batch& b : ref) tasks.insert(b.task);
  CHECK(tasks.size() == 5);
  struct Config {
    int workers;
    bool cache;
  };
  for (Config c : {Config{1, false}, Config{3, false}, Config{3, true}, Config{2, true}}) {
    CAPTURE(c.workers);
    CAPTURE(c.cache);
    std::vector<Batch> got = run_epochs(c.workers, c.cache ? std::make_shared<ImageCache>() : nullptr);
    REQUIRE(got.size() == ref.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(same_batch(got[i], ref[i]));
    }
  }
  // Epochs differ (augmentation keys include the epoch, the sampler moves on).
  CHECK_FALSE(same_tensor(ref[0].images, ref[ref.size() / 2].images));
}

TEST_CASE("loader: the cache decodes every image and mask once") {
  const Dataset& ds = fixture().ds;
  auto cache = std::make_shared<ImageCache>();
  Loader loader(ds, options(2), cache);
  const std::vector<PlannedBatch> plan = sequential_plan(ds.samples, all_rows(ds), 8);
  std::set<std::string> images, masks;
  for (const Sample& s : ds.samples) {
    images.insert(s.image_path);
    if (!s.mask_path.empty()) masks.insert(s.mask_path);
  }
  std::vector<Batch> first, second;
  Batch b;
  loader.start(plan, 0);
  while (loader.next(b)) first.push_back(b);
  const int64_t misses = cache->misses();
  // Two workers may decode the same new image at once; each keeps one copy.
  CHECK(misses >= int64_t(images.size() + masks.size()));
  CHECK(misses <= int64_t(images.size() + masks.size()) + 4);
  CHECK(cache->bytes() == int64_t(images.size()) * 48 * 48 * 3 + int64_t(masks.size()) * 48 * 48);
  loader.start(plan, 0);
  while (loader.next(b)) second.push_back(b);
  CHECK(cache->misses() == misses);
  CHECK(cache->hits() >= int64_t(ds.samples.size()));
  REQUIRE(first.size() == second.size());
  for (size_t i = 0; i < first.size(); ++i) CHECK(same_batch(first[i], second[i]));
}

TEST_CASE("build_batch: tensors equal the plain decode -> resize -> normalise pipeline") {
  const Dataset& ds = fixture().ds;
  BatchOptions opt;
  opt.image_size = 40;
  for (const PlannedBatch& p : sequential_plan(ds.samples, all_rows(ds), 9)) {
    const TaskInfo& task = ds.tasks[size_t(p.task)];
    CAPTURE(task.id);
    Batch b = build_batch(ds, p, 0, 0, opt, nullptr);
    const int64_t B = int64_t(p.rows.size());
    REQUIRE(b.images.shape() == Shape{B, 3, 40, 40});
    CHECK(b.type == task.type);
    CHECK(b.rows == p.rows);
    for (int64_t i = 0; i < B; ++i) {
      const Sample& s = ds.samples[size_t(p.rows[size_t(i)])];
      CHECK(b.samples[size_t(i)].image_path == s.image_path);
      Image img = read_image(s.image_path);
      CHECK(b.heights[size_t(i)] == img.height);
      CHECK(b.widths[size_t(i)] == img.width);
      std::vector<float> want(3 * 40 * 40);
      normalize_to_chw(resize_linear(img, 40, 40), want.data());
      CHECK(std::memcmp(b.images.data<float>() + i * 4800, want.data(), want.size() * 4) == 0);
      switch (task.type) {
        case TaskType::Segmentation: {
          REQUIRE(b.masks.shape() == Shape{B, 40, 40});
          Image m = resize_nearest(read_mask(s.mask_path, s.num_classes), 40, 40);
          for (int64_t k = 0; k < 1600; ++k) REQUIRE(b.masks.data<int64_t>()[i * 1600 + k] == m.pixels[size_t(k)]);
          break;
        }
        case TaskType::Classification:
          REQUIRE(b.labels.shape() == Shape{B});
          CHECK(b.labels.data<int64_t>()[i] == s.label);
          break;
        case TaskType::Detection: {
          REQUIRE(b.boxes.shape() == Shape{B, 4});
          const float* box = b.boxes.data<float>() + i * 4;
          if (!s.has_box) {
            for (int k = 0; k < 4; ++k) CHECK(box[k] == -1.0f);
          } else {
            CHECK(box[0] == doctest::Approx(s.box.x_min / img.width).epsilon(1e-6));
            CHECK(box[1] == doctest::Approx(s.box.y_min / img.height).epsilon(1e-6));
            CHECK(box[2] == doctest::Approx(s.box.x_max / img.width).epsilon(1e-6));
            CHECK(box[3] == doctest::Approx(s.box.y_max / img.height).epsilon(1e-6));
            for (int k = 0; k < 4; ++k) CHECK((box[k] >= 0.0f && box[k] <= 1.0f));
          }
          break;
        }
        case TaskType::Regression: {
          REQUIRE(b.points.shape() == Shape{B, 4});
          const float* pt = b.points.data<float>() + i * 4;
          for (int k = 0; k < 4; ++k)
            CHECK(pt[k] == float(s.points[size_t(k)]) / float(k % 2 == 0 ? img.width : img.height));
          break;
        }
      }
    }
  }
  PlannedBatch mixed{0, {0, int64_t(ds.samples.size()) - 1}};
  CHECK_THROWS_WITH_AS(build_batch(ds, mixed, 0, 0, opt, nullptr), doctest::Contains("in a batch of task"), Error);
}

TEST_CASE("loader: a worker's error reaches the consumer at its batch, naming the row and the file") {
  TempDir dir("loader_err");
  PhantomOptions opt;
  opt.images_per_task = 4;
  opt.min_size = opt.max_size = 50;
  write_phantom_dataset(dir.str(), opt);
  Dataset ds = tasks::read_dataset(dir.str());
  fs::remove(dir / "images/blobs/2.png");  // phantom_cls rows are first: rows 0..3
  const std::string broken = (dir / "images/blobs/2.png").string();
  const std::vector<PlannedBatch> plan = {{0, {0, 1}}, {0, {2, 3}}, {0, {1, 0}}};
  for (int workers : {0, 2}) {
    CAPTURE(workers);
    Loader loader(ds, options(workers));
    loader.start(plan, 0);
    Batch b;
    CHECK(loader.next(b));
    CHECK(b.step == 0);
    CHECK_THROWS_WITH_AS(loader.next(b), doctest::Contains(broken.c_str()), Error);
    loader.start(plan, 0);
    loader.next(b);
    CHECK_THROWS_WITH_AS(loader.next(b), doctest::Contains("phantom_cls.csv, line 4"), Error);
    CHECK(loader.next(b));  // the loader goes on after an error
    CHECK(b.step == 2);
    CHECK_FALSE(loader.next(b));
  }
  // A box reaching past its image is caught when the image is decoded.
  Sample far = ds.samples[4];  // phantom_det rows follow the 4 phantom_cls rows
  REQUIRE(far.type == TaskType::Detection);
  far.box.x_max = 51;
  ds.samples[4] = far;
  std::string msg;
  try {
    build_batch(ds, {1, {5, 4}}, 0, 0, BatchOptions{}, nullptr);
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("phantom_det.csv, line 2, columns 'x_min'..'y_max': box [") != std::string::npos);
  CHECK(msg.find("of width 50 and height 50") != std::string::npos);
}

TEST_CASE("loader: restarting mid-epoch and destroying with batches in flight") {
  const Dataset& ds = fixture().ds;
  TaskSampler sampler(ds.samples, all_rows(ds), 4, 1);
  const std::vector<PlannedBatch> a = sampler.epoch(), b = sampler.epoch();
  std::vector<Batch> want;
  {
    Loader ref(ds, options(0));
    ref.start(b, 1);
    Batch x;
    while (ref.next(x)) want.push_back(x);
  }
  Loader loader(ds, options(3));
  loader.start(a, 0);
  Batch x;
  REQUIRE(loader.next(x));
  loader.start(b, 1);  // abandons epoch 0
  CHECK(loader.size() == int64_t(b.size()));
  std::vector<Batch> got;
  while (loader.next(x)) got.push_back(x);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(same_batch(got[i], want[i]));
  {
    Loader busy(ds, options(3));
    busy.start(a, 0);
    busy.next(x);
  }  // joins the workers without consuming the rest
  // Resuming at step 3 gives the full run's batches from step 3 on.
  loader.start(b, 1, 3);
  for (size_t i = 3; i < want.size(); ++i) {
    REQUIRE(loader.next(x));
    CHECK(same_batch(x, want[i]));
  }
  CHECK_FALSE(loader.next(x));
  CHECK_THROWS_WITH_AS(loader.start(b, 1, int64_t(b.size()) + 1), doctest::Contains("first step 11 outside"), Error);
  Loader idle(ds, options(2));
  CHECK_THROWS_WITH_AS(idle.next(x), doctest::Contains("start()"), Error);
}
