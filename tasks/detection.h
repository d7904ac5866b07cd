#pragma once
// Detection's pieces that tests and benchmarks call by name: the grid
// detection loss of the baseline (docs/reference-model.md 5.3) and its read-out.
#include <array>
#include <vector>

#include "core/tensor.h"

namespace sono::tasks {

// Centre cell of each normalised box (x1, y1, x2, y2) on an h x w grid, as
// train.py computes it in float32: row = clamp(trunc(((y1+y2)/2) * h), 0, h-1),
// col likewise; boxes of -1 ("no box") land on cell (0, 0).
void centre_cells(const Tensor& boxes, int64_t h, int64_t w, std::vector<int64_t>& rows, std::vector<int64_t>& cols);

// DetectionLoss of utils.py on the head output [B, 5, h, w] (channels 0-3
// already sigmoided): over the rows with a box, BCE-with-logits of channel 4
// against 1 plus 8 * L1 of channels 0-3 against the box, both means. With no
// box in the batch: a constant 0 that requires grad and reaches nothing.
Tensor detection_loss(const Tensor& output, const Tensor& boxes);

// Index of the first maximum of channel 4 over the h x w grid, per sample,
// and the four box channels there: the detection read-out of the baseline.
void best_cell_boxes(const Tensor& output, std::vector<std::array<float, 4>>& boxes);

}  // namespace sono::tasks
