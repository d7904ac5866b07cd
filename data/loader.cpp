#include "data/loader.h"

#include "core/error.h"

namespace sono::data {

Loader::Loader(const Dataset& ds, LoaderOptions opt, std::shared_ptr<ImageCache> cache)
    : ds_(ds), opt_(opt), cache_(std::move(cache)) {
  SONO_CHECK(opt.num_workers >= 0, "Loader", "num_workers must be >= 0, got ", opt.num_workers);
  SONO_CHECK(opt.prefetch >= 1, "Loader", "prefetch must be >= 1, got ", opt.prefetch);
  for (int i = 0; i < opt.num_workers; ++i) workers_.emplace_back([this] { worker_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
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
