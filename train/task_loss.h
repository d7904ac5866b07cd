#pragma once
// The training loss of one single-task batch (train.py): Dice for
// segmentation, cross-entropy for classification, MSE for regression, and
// the grid detection loss at the ground-truth centre cell (MODEL_SPEC 5.3).
#include <vector>

#include "core/tensor.h"
#include "data/batch.h"

namespace sono {

// Centre cell of each normalised box (x1, y1, x2, y2) on an h x w grid, as
// train.py computes it in float32: row = clamp(trunc(((y1+y2)/2) * h), 0, h-1),
// col likewise; boxes of -1 ("no box") land on cell (0, 0).
void centre_cells(const Tensor& boxes, int64_t h, int64_t w, std::vector<int64_t>& rows, std::vector<int64_t>& cols);

// DetectionLoss of utils.py on the head output [B, 5, h, w] (channels 0-3
// already sigmoided): over the rows with a box, BCE-with-logits of channel 4
// against 1 plus 8 * L1 of channels 0-3 against the box, both means. With no
// box in the batch: a constant 0 that requires grad and reaches nothing.
Tensor detection_loss(const Tensor& output, const Tensor& boxes);

// The loss of `batch` given the model's output for its task.
Tensor task_loss(const data::Batch& batch, const Tensor& output);

}  // namespace sono
