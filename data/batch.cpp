#include "data/batch.h"

#include <cstring>

#include "core/error.h"

namespace sono::data {

namespace {

void check_plan(const Dataset& ds, const PlannedBatch& plan) {
  SONO_CHECK(plan.task >= 0 && plan.task < int64_t(ds.tasks.size()), "build_batch", "task index ", plan.task,
             " is outside the dataset's ", ds.tasks.size(), " tasks");
  SONO_CHECK(!plan.rows.empty(), "build_batch", "empty batch for task '", ds.tasks[size_t(plan.task)].id, "'");
  for (int64_t r : plan.rows) {
    SONO_CHECK(r >= 0 && r < int64_t(ds.samples.size()), "build_batch", "row ", r, " is outside the dataset (",
               ds.samples.size(), " samples)");
    SONO_CHECK(ds.samples[size_t(r)].task == plan.task, "build_batch", row_location(ds.samples[size_t(r)]),
               ": row of task '", ds.tasks[size_t(ds.samples[size_t(r)].task)].id, "' in a batch of task '",
               ds.tasks[size_t(plan.task)].id, "'");
  }
}

}  // namespace

Batch build_batch(const Dataset& ds, const PlannedBatch& plan, int64_t step, int64_t epoch, const BatchOptions& opt,
                  ImageCache* cache) {
  check_plan(ds, plan);
  SONO_CHECK(opt.image_size > 0, "build_batch", "image_size must be positive, got ", opt.image_size);
  const TaskInfo& task = ds.tasks[size_t(plan.task)];
  const int64_t B = int64_t(plan.rows.size()), S = opt.image_size;
  Batch b;
  b.step = step;
  b.task = plan.task;
  b.first_slot = plan.first_slot;
  b.type = task.type;
  b.rows = plan.rows;
  b.images = Tensor::empty({B, 3, S, S});
  const TargetCodec& codec = ds.codec(plan.task);
  if (opt.load_targets) codec.allocate_targets(b, B, S, task.num_classes);
  for (int64_t i = 0; i < B; ++i) {
    const Sample& s = ds.samples[size_t(plan.rows[size_t(i)])];
    std::shared_ptr<const ResizedImage> img =
        cache ? cache->image(s, S) : std::make_shared<const ResizedImage>(load_resized_image(s, S));
    b.samples.push_back(s);
    b.heights.push_back(img->height);
    b.widths.push_back(img->width);
    float* pixels = b.images.data<float>() + i * 3 * S * S;
    if (opt.augment) {
      Image copy = img->image;  // the cached bytes stay unaugmented
      augment(copy, opt.augment_options, example_key(opt.seed, epoch, step, plan.first_slot + i));
      normalize_to_chw(copy, pixels);
    } else {
      normalize_to_chw(img->image, pixels);
    }
    if (!opt.load_targets) continue;
    SONO_CHECK(s.has_target, "build_batch", row_location(s), ": the row has no target (it was read for prediction)");
    codec.fill_target(b, i, s, *img, S, cache);
  }
  return b;
}

}  // namespace sono::data
