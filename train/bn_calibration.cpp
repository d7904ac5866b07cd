#include "train/bn_calibration.h"

#include "core/autocast.h"
#include "core/autograd.h"
#include "data/loader.h"
#include "layers/norm.h"

namespace sono {

void recalibrate_batch_norm(model::MultiTaskModel& model, const data::Dataset& ds,
                            const std::vector<data::PlannedBatch>& plan, int64_t image_size, Device device,
                            int num_workers, std::shared_ptr<data::ImageCache> cache) {
  std::vector<nn::BatchNorm2d*> norms;
  for (auto& [name, m] : model.named_modules())
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) norms.push_back(bn);
  const bool was_training = model.is_training();
  // The calibration must not move the training's dropout stream.
  const uint64_t offset = model.random().generator.offset;
  model.train();
  for (auto* bn : norms) bn->begin_cumulative_stats();
  {
    NoGradGuard no_grad;
    AutocastGuard autocast(precision());  // statistics of the activations training sees
    data::LoaderOptions lo;
    lo.batch.image_size = image_size;
    lo.num_workers = num_workers;
    data::Loader loader(ds, lo, std::move(cache));
    loader.start(plan, 0);
    data::Batch batch;
    while (loader.next(batch)) model.forward(batch.images.to(device), ds.tasks[size_t(batch.task)].id);
  }
  for (auto* bn : norms) bn->end_cumulative_stats();
  model.random().generator.offset = offset;
  model.train(was_training);
}

}  // namespace sono
