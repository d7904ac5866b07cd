#pragma once
// ONNX (opset 17) files of a trained MultiTaskModel, for ONNX Runtime and
// other runtimes (docs/export.md). Per task: the encoder, the FPN decoder
// when the task uses it, and the task's head, in eval mode with every
// BatchNorm folded into its convolution; or one file with the shared
// encoder/decoder and every head as a named output.
//
// Input "image": float32 [N, 3, S, S], ImageNet-normalised as Sono's loader
// makes it (N is 1, or symbolic "N" with dynamic_batch). Each output is named
// after its task id and holds what MultiTaskModel::forward returns, before
// the read-out of sono predict (no softmax, no argmax, no best-cell choice):
//   segmentation   [N, C, S, S] logits
//   classification [N, C] logits
//   regression     [N, 2 * points] normalised x0, y0, x1, y1, ...
//   detection      [N, 5, S/4, S/4]: channels 0..3 the sigmoid box
//                  (x_min, y_min, x_max, y_max, normalised), channel 4 the cell logit
// Metadata (metadata_props): sono.tasks (JSON [[id, kind, num_classes], ...]),
// sono.image_size, sono.encoder; per-task files also sono.task, sono.kind,
// sono.num_classes, sono.submission_file.
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "model/multitask_model.h"

namespace sono::onnx_export {

constexpr int64_t kOpsetVersion = 17;

struct ExportOptions {
  int64_t image_size = 256;    // S: a positive multiple of 32
  bool dynamic_batch = false;  // N symbolic instead of 1
};

// The model graph of `task_ids` (all outputs of one file), checked with the
// ONNX checker. Throws naming an unknown task or an invalid option.
onnx::ModelProto build_onnx_model(model::MultiTaskModel& model, const std::vector<std::string>& task_ids,
                                  const ExportOptions& options);

// Writes <out_dir>/<task>.onnx for each of `task_ids` (empty: every task of
// the model), or with all_heads one <out_dir>/model.onnx holding them all.
// Returns the written paths. Files are written atomically.
std::vector<std::string> export_onnx(model::MultiTaskModel& model, const std::string& out_dir,
                                     std::vector<std::string> task_ids, bool all_heads, const ExportOptions& options);

// The file name export_onnx gives the all-heads model.
constexpr const char* kAllHeadsFile = "model.onnx";

}  // namespace sono::onnx_export
