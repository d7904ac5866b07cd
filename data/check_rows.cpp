#include "data/check_rows.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "data/batch.h"

namespace sono::data {

void check_rows(Dataset& ds, int64_t image_size, ImageCache* cache, int num_threads) {
  const size_t n = ds.samples.size();
  std::vector<std::string> failure(n);  // empty = the row builds
  std::atomic<size_t> next{0};
  BatchOptions opt;
  opt.image_size = image_size;
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) {
      const Sample& s = ds.samples[i];
      try {
        build_batch(ds, PlannedBatch{s.task, {int64_t(i)}}, 0, 0, opt, cache);
      } catch (const Error& e) {
        std::string msg = e.what();
        failure[i] = msg.find(s.csv_file) == std::string::npos ? str_cat(row_location(s), ": ", msg) : msg;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < num_threads; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();

  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!failure[i].empty()) {
      ds.skipped.push_back({ds.samples[i].csv_file, ds.samples[i].line, failure[i]});
      continue;
    }
    if (out != i) ds.samples[out] = std::move(ds.samples[i]);
    ++out;
  }
  ds.samples.resize(out);
}

}  // namespace sono::data
