#pragma once
// Batch plans: which dataset rows make up each batch of an epoch.
//
// TaskSampler is the baseline's MultiTaskUniformSampler (docs/reference-model.md 6.2):
// rows are grouped by task in the order given (first appearance decides the
// task order), each group is shuffled once at construction; an epoch has
// len(rows) // batch_size steps and starts with every cursor at 0; a step
// picks a task uniformly (random.choice) and takes the next batch_size rows
// of its list. Running past the end takes the remainder, reshuffles the list
// and fills up from its start, so a task with fewer rows than a batch gives
// short batches (remainder + list[:missing]) and may repeat rows.
// Randomness comes from PyRandom (Python's generator), so with the same rows
// in the same order and seed 42 the batches equal those of the baseline's
// sampler after random.seed(42).
#include <cstdint>
#include <string>
#include <vector>

#include "data/py_random.h"
#include "data/sample.h"

namespace sono::data {

struct PlannedBatch {
  int64_t task = -1;          // index into Dataset::tasks
  std::vector<int64_t> rows;  // indices into Dataset::samples
  // Data-parallel shard: rows are entries [first_slot, first_slot + rows) of
  // the step's global batch; the augmentation keys use the global slot.
  int64_t first_slot = 0;
};

class TaskSampler {
 public:
  // rows: the training rows (indices into samples), e.g. Split::train.
  TaskSampler(const std::vector<Sample>& samples, const std::vector<int64_t>& rows, int64_t batch_size, uint64_t seed);

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t batch_size() const { return batch_size_; }
  // Dataset task indices in the order the sampler chooses among them.
  const std::vector<int64_t>& tasks() const { return tasks_; }

  void begin_epoch();                 // all cursors back to 0
  PlannedBatch next();                // one step
  std::vector<PlannedBatch> epoch();  // begin_epoch() + steps_per_epoch() steps

  // Everything that determines later batches (generator, lists, cursors) as
  // JSON text; set_state() on a sampler built from the same rows resumes exactly.
  std::string state() const;
  void set_state(const std::string& json);

 private:
  int64_t batch_size_ = 0, steps_per_epoch_ = 0;
  std::vector<int64_t> tasks_;
  std::vector<std::vector<int64_t>> lists_;  // per entry of tasks_
  std::vector<int64_t> cursors_;
  PyRandom rng_;
};

// Validation/inference plan: rows in order, chunks of batch_size, each chunk
// split by task (first appearance within the chunk) into single-task batches,
// like the baseline's evaluate() splits a mixed batch of 8.
std::vector<PlannedBatch> sequential_plan(const std::vector<Sample>& samples, const std::vector<int64_t>& rows,
                                          int64_t batch_size);

}  // namespace sono::data
