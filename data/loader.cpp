#include "data/loader.h"

#include <algorithm>
#include <cstdio>
#include <system_error>

#include "core/error.h"

namespace sono::data {

int max_loader_workers() {
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  return std::clamp(4 * cores, 4, 256);
}

namespace {

LoaderOptions capped(LoaderOptions opt) {
  SONO_CHECK(opt.num_workers >= 0, "Loader", "num_workers must be >= 0, got ", opt.num_workers);
  SONO_CHECK(opt.prefetch >= 1, "Loader", "prefetch must be >= 1, got ", opt.prefetch);
  if (opt.num_workers > max_loader_workers()) {
    std::fprintf(stderr, "loader: %d workers capped to %d (4 per core, at most 256)\n", opt.num_workers,
                 max_loader_workers());
    opt.num_workers = max_loader_workers();
  }
  return opt;
}

}  // namespace

Loader::Loader(const Dataset& ds, LoaderOptions opt, std::shared_ptr<ImageCache> cache)
    : ds_(ds), opt_(capped(opt)), cache_(std::move(cache)) {
  try {
    for (int i = 0; i < opt_.num_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
  } catch (const std::system_error& e) {
    // The destructor does not run for a constructor that throws: stop the
    // workers already started, or their std::thread would terminate().
    stop_workers();
    throw Error(str_cat("Loader: cannot start loader thread ", workers_.size() + 1, " of ", opt_.num_workers, ": ",
                        e.what(), " (use fewer --workers)"));
  }
}

Loader::~Loader() { stop_workers(); }

void Loader::stop_workers() noexcept {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void Loader::start(std::vector<PlannedBatch> plan, int64_t epoch, int64_t first_step) {
  SONO_CHECK(first_step >= 0 && first_step <= int64_t(plan.size()), "Loader::start", "first step ", first_step,
             " outside a plan of ", plan.size(), " batches");
  {
    std::lock_guard<std::mutex> lock(mu_);
    plan_ = std::make_shared<const std::vector<PlannedBatch>>(std::move(plan));
    epoch_ = epoch;
    ++generation_;
    next_claim_ = next_out_ = first_step;
    ready_.clear();
  }
  work_cv_.notify_all();
}

int64_t Loader::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return plan_ ? int64_t(plan_->size()) : 0;
}

Loader::Slot Loader::build(const std::vector<PlannedBatch>& plan, int64_t step, int64_t epoch) {
  Slot slot;
  try {
    slot.batch = build_batch(ds_, plan[size_t(step)], step, epoch, opt_.batch, cache_.get());
  } catch (...) {
    slot.error = std::current_exception();
  }
  return slot;
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] {
      return stop_ || (plan_ && next_claim_ < int64_t(plan_->size()) && next_claim_ < next_out_ + opt_.prefetch);
    });
    if (stop_) return;
    const int64_t step = next_claim_++;
    const uint64_t generation = generation_;
    std::shared_ptr<const std::vector<PlannedBatch>> plan = plan_;
    const int64_t epoch = epoch_;
    lock.unlock();
    Slot slot = build(*plan, step, epoch);
    lock.lock();
    if (generation == generation_) {
      ready_.emplace(step, std::move(slot));
      ready_cv_.notify_all();
    }
  }
}

bool Loader::next(Batch& out) {
  std::unique_lock<std::mutex> lock(mu_);
  SONO_CHECK(plan_ != nullptr, "Loader::next", "call start() with a plan first");
  if (next_out_ >= int64_t(plan_->size())) return false;
  const int64_t step = next_out_;
  Slot slot;
  if (workers_.empty()) {
    std::shared_ptr<const std::vector<PlannedBatch>> plan = plan_;
    const int64_t epoch = epoch_;
    lock.unlock();
    slot = build(*plan, step, epoch);
    lock.lock();
  } else {
    ready_cv_.wait(lock, [&] { return ready_.count(step) > 0; });
    auto it = ready_.find(step);
    slot = std::move(it->second);
    ready_.erase(it);
  }
  ++next_out_;
  lock.unlock();
  work_cv_.notify_all();  // the prefetch window moved
  if (slot.error) std::rethrow_exception(slot.error);
  out = std::move(slot.batch);
  return true;
}

}  // namespace sono::data
