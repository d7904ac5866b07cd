#pragma once
// What `sono train` does differently on several ranks (docs/distributed.md):
// the shard of each step's batch, the averaged step, sync-BN, the start-up
// checks, and which rank writes. With the single-process communicator every
// method is the single-process behaviour (step() is train/step.h's
// training_step, shard() the identity), so `sono train` has one code path.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/batch.h"
#include "dist/comm.h"
#include "dist/grad_sync.h"
#include "model/multitask_model.h"
#include "optim/adamw.h"

namespace sono {

struct StepResult {
  double loss = 0;       // the global batch's loss (the ranks' losses weighted by their shares)
  dist::CommStats comm;  // distributed only
  Tensor output;         // distributed only: the head's output for this rank's shard
};

class DataParallel {
 public:
  explicit DataParallel(std::unique_ptr<dist::Communicator> comm);
  ~DataParallel();

  bool distributed() const { return comm_->backend() != "single"; }
  bool root() const { return comm_->rank() == 0; }
  int rank() const { return comm_->rank(); }
  int world_size() const { return comm_->world_size(); }
  dist::Communicator& comm() { return *comm_; }

  // Refuses (RankFailure naming the options and ranks) when any rank's
  // train_config (train/train_state.h: data fingerprint, encoder, batch, ...)
  // differs from rank 0's.
  void check_same_config(const nlohmann::json& config);
  // Rank 0's parameters and buffers into every rank (as DDP does at start),
  // the gradient buckets, and with sync_bn the BatchNorm reducers.
  void attach(model::MultiTaskModel& model, AdamW& opt, bool sync_bn, int64_t bucket_bytes);
  // Every task of the sampler must give each rank at least one sample.
  void check_shardable(int64_t smallest_batch, const std::string& task) const;

  // This rank's part of a step's batch: rows [B*r/N, B*(r+1)/N).
  data::PlannedBatch shard(const data::PlannedBatch& global) const;
  std::vector<data::PlannedBatch> shard(const std::vector<data::PlannedBatch>& plan) const;

  // One training step on this rank's shard of a global batch of `global_rows`.
  StepResult step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch, const std::string& task,
                  Device device, int64_t global_rows);

  // Whether `flag` holds on any rank (a stop signal seen by one rank stops all at the same step).
  bool any(bool flag);

  // BatchNorm reducers off (BN re-calibration sees the same batches on every rank) / back on.
  void pause_sync_bn(model::MultiTaskModel& model);
  void resume_sync_bn(model::MultiTaskModel& model);

 private:
  std::unique_ptr<dist::Communicator> comm_;
  std::unique_ptr<dist::GradSync> grads_;
  std::shared_ptr<BatchNormReducer> reducer_;
};

// The test hook of docs/distributed.md: SONO_DIST_TEST_FAULT=kill:R:S or
// stall:R:S makes rank R raise SIGKILL, or sleep forever, when it starts
// global step S. Unset: nothing.
void fault_hook(int rank, int64_t step);

}  // namespace sono
