#pragma once
// A prefetching batch loader: worker threads build the batches of a plan
// (data/sampler.h) ahead of the consumer, into a bounded window of
// `prefetch` batches. Batches come out in plan order and are identical for
// any number of workers, since each batch depends only on (dataset, plan
// entry, step, epoch, options). A worker's error is raised by next() when the
// consumer reaches that batch, with the CSV row and file in the message.
// The dataset (and the cache, if any) must outlive the loader.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/batch.h"

namespace sono::data {

// The most worker threads a Loader starts (4 per core, 4..256): more only
// contend for the cores, and tens of thousands exhaust the process's threads.
int max_loader_workers();

struct LoaderOptions {
  BatchOptions batch;
  int num_workers = 2;  // 0: next() builds each batch on the calling thread; above max_loader_workers() capped
  int prefetch = 4;     // batches built or being built ahead of the consumer
};

class Loader {
 public:
  // `cache` may be null (decode every time) or shared between loaders.
  Loader(const Dataset& ds, LoaderOptions opt, std::shared_ptr<ImageCache> cache = nullptr);
  ~Loader();  // stops and joins the workers; batches in flight are dropped
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts an epoch; an unfinished previous one is abandoned. Batches before
  // first_step are not built (resuming mid-epoch keeps each batch's step, and
  // so its augmentation, unchanged).
  void start(std::vector<PlannedBatch> plan, int64_t epoch, int64_t first_step = 0);
  // The next batch in plan order; false when the epoch is exhausted.
  bool next(Batch& out);

  int64_t size() const;  // batches in the current plan

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  void worker_loop();
  void stop_workers() noexcept;
  Slot build(const std::vector<PlannedBatch>& plan, int64_t step, int64_t epoch);

  const Dataset& ds_;
  const LoaderOptions opt_;
  std::shared_ptr<ImageCache> cache_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_, ready_cv_;
  std::shared_ptr<const std::vector<PlannedBatch>> plan_;
  int64_t epoch_ = 0;
  uint64_t generation_ = 0;  // bumped by start(); stale results are dropped
  int64_t next_claim_ = 0;   // next step a worker may build
  int64_t next_out_ = 0;     // next step next() returns
  std::map<int64_t, Slot> ready_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace sono::data
