#include "train/data_parallel.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "layers/norm.h"
#include "train/step.h"

namespace sono {

using nlohmann::json;

DataParallel::DataParallel(std::unique_ptr<dist::Communicator> comm) : comm_(std::move(comm)) {}
DataParallel::~DataParallel() = default;

void DataParallel::check_same_config(const json& config) {
  if (!distributed()) return;
  const std::vector<std::string> all = comm_->allgather(config.dump(), "the configuration check");
  const json ref = json::parse(all[0]);
  std::string diff;
  for (size_t r = 1; r < all.size(); ++r) {
    const json other = json::parse(all[r]);
    for (auto& [key, value] : ref.items()) {
      auto it = other.find(key);
      if (it != other.end() && *it == value) continue;
      diff += str_cat("\n  rank ", r, ": ", key, " ", it == other.end() ? std::string("(absent)") : it->dump(),
                      " (rank 0: ", value.dump(), ")");
    }
  }
  if (!diff.empty())
    throw dist::RankFailure(
        str_cat("train: the ranks were started with different configurations "
                "(\"--data\" is the dataset's row count and fingerprint):",
                diff));
}

void DataParallel::attach(model::MultiTaskModel& model, AdamW& opt, bool sync_bn, int64_t bucket_bytes) {
  if (!distributed()) return;
  {
    NoGradGuard ng;
    for (auto& [name, t] : model.named_parameters()) comm_->broadcast(t, 0, "the parameter broadcast of " + name);
    for (auto& [name, t] : model.named_buffers()) comm_->broadcast(t, 0, "the buffer broadcast of " + name);
    for (auto& [name, m] : model.named_modules()) m->on_state_loaded();
  }
  std::vector<Tensor> params;
  for (const ParamGroup& g : opt.groups())
    for (const Tensor& p : g.params) params.push_back(p);
  grads_ = std::make_unique<dist::GradSync>(*comm_, params, bucket_bytes);
  if (sync_bn) {
    reducer_ = std::make_shared<BatchNormReducer>();
    dist::Communicator* c = comm_.get();
    reducer_->allreduce_sum = [c](const Tensor& t) { c->allreduce_sum(t, "the sync-BN statistics all-reduce"); };
    resume_sync_bn(model);
  }
}

void DataParallel::pause_sync_bn(model::MultiTaskModel& model) {
  if (!reducer_) return;
  for (auto& [name, m] : model.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) bn->set_reducer(nullptr);
}

void DataParallel::resume_sync_bn(model::MultiTaskModel& model) {
  if (!reducer_) return;
  for (auto& [name, m] : model.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) bn->set_reducer(reducer_);
}

void DataParallel::check_shardable(int64_t smallest_batch, const std::string& task) const {
  SONO_CHECK(smallest_batch >= world_size(), "train", "task '", task, "' gives batches of ", smallest_batch,
             " rows, fewer than the ", world_size(),
             " ranks: every rank needs at least one sample (use a larger --batch or fewer ranks)");
}

data::PlannedBatch DataParallel::shard(const data::PlannedBatch& global) const {
  if (!distributed()) return global;
  const int64_t B = int64_t(global.rows.size()), N = world_size(), r = rank();
  const int64_t lo = B * r / N, hi = B * (r + 1) / N;
  SONO_CHECK(hi > lo, "train", "a batch of ", B, " rows cannot give each of ", N, " ranks a sample");
  data::PlannedBatch p;
  p.task = global.task;
  p.rows.assign(global.rows.begin() + lo, global.rows.begin() + hi);
  p.first_slot = global.first_slot + lo;
  return p;
}

std::vector<data::PlannedBatch> DataParallel::shard(const std::vector<data::PlannedBatch>& plan) const {
  std::vector<data::PlannedBatch> out;
  for (const auto& p : plan) out.push_back(shard(p));
  return out;
}

StepResult DataParallel::step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch,
                              const std::string& task, Device device, int64_t global_rows) {
  StepResult res;
  if (!distributed()) {
    res.loss = training_step(model, opt, batch, task, device).item();
    return res;
  }
  const double weight = double(batch.size()) / double(global_rows);
  nn::RandomContext& rc = model.random();
  rc.shard_first = batch.size() > 0 ? batch.first_slot : 0;
  rc.shard_total = global_rows;
  if (reducer_) reducer_->weight = weight;
  Tensor loss;
  try {
    loss = training_step(model, opt, batch, task, device, *grads_, weight, &res.comm, &res.output);
  } catch (...) {
    rc.shard_first = rc.shard_total = 0;
    throw;
  }
  rc.shard_first = rc.shard_total = 0;
  Tensor l = Tensor::full({1}, loss.item() * weight, DType::F64);
  comm_->allreduce_sum(l, "the loss all-reduce");
  res.loss = l.item();
  return res;
}

bool DataParallel::any(bool flag) {
  if (!distributed()) return flag;
  Tensor t = Tensor::full({1}, flag ? 1.0 : 0.0, DType::F64);
  comm_->allreduce_sum(t, "the stop-signal check");
  return t.item() > 0;
}

void fault_hook(int rank, int64_t step) {
  const char* f = std::getenv("SONO_DIST_TEST_FAULT");
  if (!f || !*f) return;
  char kind[16] = {};
  int r = -1;
  long long s = -1;
  if (std::sscanf(f, "%15[a-z]:%d:%lld", kind, &r, &s) != 3) return;
  if (r != rank || s != step) return;
  std::fprintf(stderr, "train: SONO_DIST_TEST_FAULT: rank %d %s at step %lld\n", rank, kind, s);
  std::fflush(stderr);
  if (std::string(kind) == "kill") std::raise(SIGKILL);
  if (std::string(kind) == "stall")
    while (true) std::this_thread::sleep_for(std::chrono::seconds(1));
}

}  // namespace sono
