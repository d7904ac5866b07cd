#include "train/batch_prefetch.h"

#include <utility>

namespace sono {

BatchPrefetcher::BatchPrefetcher(data::Loader& loader, Device device) : loader_(loader), device_(device) {}

bool BatchPrefetcher::fetch() {
  have_next_ = loader_.next(next_);
  if (have_next_) upload_ = Upload({next_.images, next_.masks, next_.labels, next_.points}, device_);
  return have_next_;
}

bool BatchPrefetcher::next(data::Batch& out) {
  if (device_.is_cpu()) return loader_.next(out);
  if (!started_) {
    started_ = true;
    fetch();
  }
  if (!have_next_) return false;
  std::vector<Tensor> moved = upload_.take();
  out = std::move(next_);
  out.images = moved[0];
  out.masks = moved[1];
  out.labels = moved[2];
  out.points = moved[3];
  next_ = data::Batch();
  fetch();  // before the caller queues the step: this copy overlaps it
  return true;
}

}  // namespace sono
