#pragma once
// The deep check behind --skip-bad-rows: every row is built once as a
// one-row batch (image decoded and resized, target read and filled: mask
// values and size, box inside the image), exactly as the loader's workers
// build it, and the rows that fail are removed from the dataset before the
// split. So a row that would fail in a batch never reaches one: the other
// rows' batches, augmentation and updates are those of the same dataset
// without the bad rows, and --resume stays exact. Under OnBadRow::Stop this
// check is not run; the loader raises the first failure with its file and line.
#include <cstdint>

#include "data/dataset.h"
#include "data/prepare.h"

namespace sono::data {

// Removes (and appends to ds.skipped, in row order) the samples whose batch
// cannot be built at `image_size`. `cache` (may be null) is filled with the
// good rows' resized images, as the first epoch would fill it. `num_threads`
// workers share the rows; the result does not depend on their number.
void check_rows(Dataset& ds, int64_t image_size, ImageCache* cache, int num_threads);

}  // namespace sono::data
