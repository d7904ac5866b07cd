#pragma once
// Pieces shared by the whole-model benchmarks (bench/bench_model.cpp) and
// `sono bench --per-task`: a synthetic single-task batch (tasks/dataset.h),
// the trainer's step (train/step.h), the optimizer, and the peak memory of a
// region of work on one device.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/device.h"
#include "data/batch.h"
#include "model/multitask_model.h"
#include "optim/adamw.h"
#include "tasks/dataset.h"
#include "train/step.h"

namespace sono {

using tasks::batch_to;
using tasks::synthetic_batch;

// AdamW over every parameter in one group (encoder lr). The update costs the
// same as the trainer's per-part groups: the learning rates differ, not the work.
AdamW benchmark_optimizer(const model::MultiTaskModel& model);

// Peak memory of the work done while this object lives, in bytes above what
// was in use when it was created.
//   cpu:  growth of the process's resident-set high-water mark (VmHWM, reset
//         through /proc/self/clear_refs) over the resident set at the start,
//         after returning malloc's free pages to the kernel, so heap cached by
//         earlier work neither hides nor inflates the figure. Process-wide:
//         includes any other thread's allocations.
//   cuda: the caching allocator's peak of allocated bytes (memory_stats).
// available() is false where the counter cannot be read (no /proc, no
// permission to reset the high-water mark).
class PeakMemory {
 public:
  explicit PeakMemory(Device device);
  bool available() const { return available_; }
  size_t peak_bytes() const;

 private:
  Device device_;
  bool available_ = false;
  size_t base_ = 0;
};

}  // namespace sono
