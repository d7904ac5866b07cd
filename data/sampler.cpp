#include "data/sampler.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sono::data {

TaskSampler::TaskSampler(const std::vector<Sample>& samples, const std::vector<int64_t>& rows, int64_t batch_size,
                         uint64_t seed)
    : batch_size_(batch_size), rng_(seed) {
  SONO_CHECK(batch_size >= 1, "TaskSampler", "batch_size must be >= 1, got ", batch_size);
  SONO_CHECK(!rows.empty(), "TaskSampler", "no training rows");
  for (int64_t r : rows) {
    SONO_CHECK(r >= 0 && r < int64_t(samples.size()), "TaskSampler", "row ", r, " is outside the dataset (",
               samples.size(), " samples)");
    const int64_t task = samples[size_t(r)].task;
    auto it = std::find(tasks_.begin(), tasks_.end(), task);
    if (it == tasks_.end()) {
      tasks_.push_back(task);
      lists_.emplace_back();
      it = tasks_.end() - 1;
    }
    lists_[size_t(it - tasks_.begin())].push_back(r);
  }
  for (auto& list : lists_) rng_.shuffle(list);
  cursors_.assign(tasks_.size(), 0);
  steps_per_epoch_ = int64_t(rows.size()) / batch_size;
}

void TaskSampler::begin_epoch() { std::fill(cursors_.begin(), cursors_.end(), 0); }

PlannedBatch TaskSampler::next() {
  const size_t t = size_t(rng_.randbelow(int64_t(tasks_.size())));
  std::vector<int64_t>& list = lists_[t];
  const int64_t n = int64_t(list.size());
  int64_t& cursor = cursors_[t];
  PlannedBatch b;
  b.task = tasks_[t];
  if (cursor + batch_size_ > n) {
    // Python slices: list[cursor:] is empty once the cursor is past the end,
    // list[:missing] stops at the end.
    if (cursor < n) b.rows.assign(list.begin() + cursor, list.end());
    rng_.shuffle(list);
    const int64_t missing = batch_size_ - int64_t(b.rows.size());
    b.rows.insert(b.rows.end(), list.begin(), list.begin() + std::min(missing, n));
    cursor = missing;
  } else {
    b.rows.assign(list.begin() + cursor, list.begin() + cursor + batch_size_);
    cursor += batch_size_;
  }
  return b;
}

std::vector<PlannedBatch> TaskSampler::epoch() {
  begin_epoch();
  std::vector<PlannedBatch> plan;
  plan.reserve(size_t(steps_per_epoch_));
  for (int64_t s = 0; s < steps_per_epoch_; ++s) plan.push_back(next());
  return plan;
}

std::string TaskSampler::state() const {
  nlohmann::json j;
  j["kind"] = "sono.TaskSampler";
  j["batch_size"] = batch_size_;
  j["tasks"] = tasks_;
  j["lists"] = lists_;
  j["cursors"] = cursors_;
  j["rng"] = rng_.state();
  return j.dump();
}

void TaskSampler::set_state(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat("TaskSampler::set_state: not valid JSON: ", e.what()));
  }
  SONO_CHECK(j.value("kind", "") == "sono.TaskSampler", "TaskSampler::set_state", "not a TaskSampler state");
  try {
    auto tasks = j.at("tasks").get<std::vector<int64_t>>();
    auto lists = j.at("lists").get<std::vector<std::vector<int64_t>>>();
    auto cursors = j.at("cursors").get<std::vector<int64_t>>();
    SONO_CHECK(j.at("batch_size").get<int64_t>() == batch_size_ && tasks == tasks_ && lists.size() == lists_.size() &&
                   cursors.size() == cursors_.size(),
               "TaskSampler::set_state", "the state belongs to a sampler with other tasks or batch size");
    for (size_t t = 0; t < lists.size(); ++t) {
      auto a = lists[t], b = lists_[t];
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      SONO_CHECK(a == b, "TaskSampler::set_state", "the state's rows of task ", tasks_[t],
                 " differ from this sampler's (was it built from another split?)");
    }
    rng_.set_state(j.at("rng").get<std::vector<uint32_t>>());
    lists_ = std::move(lists);
    cursors_ = std::move(cursors);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat("TaskSampler::set_state: malformed state: ", e.what()));
  }
}

std::vector<PlannedBatch> sequential_plan(const std::vector<Sample>& samples, const std::vector<int64_t>& rows,
                                          int64_t batch_size) {
  SONO_CHECK(batch_size >= 1, "sequential_plan", "batch_size must be >= 1, got ", batch_size);
  std::vector<PlannedBatch> plan;
  for (size_t start = 0; start < rows.size(); start += size_t(batch_size)) {
    const size_t end = std::min(rows.size(), start + size_t(batch_size));
    const size_t first = plan.size();
    for (size_t i = start; i < end; ++i) {
      SONO_CHECK(rows[i] >= 0 && rows[i] < int64_t(samples.size()), "sequential_plan", "row ", rows[i],
                 " is outside the dataset (", samples.size(), " samples)");
      const int64_t task = samples[size_t(rows[i])].task;
      auto it = std::find_if(plan.begin() + int64_t(first), plan.end(),
                             [&](const PlannedBatch& b) { return b.task == task; });
      if (it == plan.end()) {
        plan.push_back({task, {}});
        it = plan.end() - 1;
      }
      it->rows.push_back(rows[i]);
    }
  }
  return plan;
}

}  // namespace sono::data
