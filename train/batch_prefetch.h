#pragma once
// The loader's batches with their tensors already on the training device:
// when batch n is handed out, batch n+1's copy has been running on the
// device's copy stream, and batch n+2's is started before the caller queues
// step n, so on a GPU the copies overlap the steps (core/transfer.h) and no
// step waits for its batch. The images and the segmentation, classification
// and regression targets move; detection boxes stay on the host, where the
// detection loss decides its cells without a read-back (tasks/detection.cpp).
// On the CPU the loader's batches are handed through unchanged.
#include "core/transfer.h"
#include "data/loader.h"

namespace sono {

class BatchPrefetcher {
 public:
  // `loader` has been started for the epoch and outlives this.
  BatchPrefetcher(data::Loader& loader, Device device);
  // The next batch in plan order; false when the epoch is exhausted.
  bool next(data::Batch& out);

 private:
  bool fetch();  // the loader's next batch into next_, its copy started

  data::Loader& loader_;
  const Device device_;
  bool started_ = false, have_next_ = false;
  data::Batch next_;
  Upload upload_;
};

}  // namespace sono
