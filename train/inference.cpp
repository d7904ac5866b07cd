#include "train/inference.h"

#include "core/autocast.h"
#include "core/autograd.h"
#include "data/loader.h"
#include "data/sampler.h"
#include "train/progress.h"

namespace sono {

InferenceRun run_inference(model::MultiTaskModel& model, const data::Dataset& ds, const std::vector<int64_t>& rows,
                           const InferenceOptions& opt, const InferencePass& pass,
                           const std::function<void(const data::Batch&, const Tensor&)>& each) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  // The whole pass under --precision: the weights' bf16 copies are made once.
  AutocastGuard autocast(precision());
  data::LoaderOptions lo;
  lo.batch.image_size = opt.image_size;
  lo.batch.augment = false;
  lo.batch.load_targets = pass.load_targets;
  lo.num_workers = opt.num_workers;
  data::Loader loader(ds, lo, pass.cache);
  auto plan = data::sequential_plan(ds.samples, rows, opt.batch_size);
  std::vector<int64_t> index;  // plan index of each batch run here
  if (opt.shard_count > 1) {
    std::vector<data::PlannedBatch> mine;
    for (size_t i = 0; i < plan.size(); ++i)
      if (int64_t(i) % opt.shard_count == opt.shard_rank) mine.push_back(plan[i]), index.push_back(int64_t(i));
    plan = std::move(mine);
  }
  loader.start(plan, 0);

  InferenceRun run;
  ProgressBar bar(pass.label, int64_t(plan.size()), opt.progress);
  data::Batch batch;
  int64_t done = 0;
  while (loader.next(batch)) {
    if (!index.empty()) batch.step = index[size_t(batch.step)];
    const Tensor out = autocast::input(autocast::Op::ReadOut,
                                       model.forward(batch.images.to(opt.device), ds.tasks[size_t(batch.task)].id));
    each(batch, out);
    run.images += batch.size();
    bar.update(++done);
  }
  bar.finish();
  run.seconds = bar.elapsed_seconds();
  model.train(was_training);
  return run;
}

}  // namespace sono
