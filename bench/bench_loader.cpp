// Loader throughput (images/s at 256x256, training augmentation on) on a
// phantom dataset written to a temp folder at first use:
//   sono_bench --benchmark_filter=Loader
// Arguments: cache (0 = decode + resize every image, 1 = resized images
// cached, as in epochs after the first), worker threads.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "data/loader.h"
#include "data/phantom.h"
#include "tasks/dataset.h"

namespace {

using namespace sono::data;
namespace fs = std::filesystem;

struct PhantomData {
  fs::path root;
  Dataset ds;
  std::vector<PlannedBatch> plan;
  PhantomData() {
    root = fs::temp_directory_path() / ("sono_bench_loader_" + std::to_string(::getpid()));
    PhantomOptions opt;
    opt.images_per_task = 60;  // 300 images (180..320 px), 360 rows
    write_phantom_dataset(root.string(), opt);
    ds = sono::tasks::read_dataset(root.string());
    TaskSampler sampler(
        ds.samples,
        [&] {
          std::vector<int64_t> rows(ds.samples.size());
          for (size_t i = 0; i < rows.size(); ++i) rows[i] = int64_t(i);
          return rows;
        }(),
        20, 42);
    plan = sampler.epoch();
  }
  ~PhantomData() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

const PhantomData& data() {
  static PhantomData d;
  return d;
}

void BM_Loader(benchmark::State& state) {
  const PhantomData& d = data();
  const bool use_cache = state.range(0) != 0;
  LoaderOptions opt;
  opt.num_workers = int(state.range(1));
  opt.batch.image_size = 256;
  opt.batch.augment = true;
  std::shared_ptr<ImageCache> cache = use_cache ? std::make_shared<ImageCache>() : nullptr;
  Loader loader(d.ds, opt, cache);
  if (use_cache) {  // fill the cache outside the timing
    loader.start(d.plan, 0);
    Batch b;
    while (loader.next(b)) {
    }
  }
  int64_t images = 0, epoch = 1;
  for (auto _ : state) {
    loader.start(d.plan, epoch++);
    Batch b;
    while (loader.next(b)) images += b.size();
  }
  state.SetItemsProcessed(images);
  state.counters["images/s"] = benchmark::Counter(double(images), benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_Loader)
    ->ArgNames({"cache", "workers"})
    ->Args({0, 1})
    ->Args({0, 2})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
