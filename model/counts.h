#pragma once
// Parameter and multiply-accumulate counts of the multi-task model, computed
// from the layer configurations (MACs: conv and linear layers only, one
// sample, as docs/reference-model.md 9 counts them).
#include <string>
#include <vector>

#include "model/multitask_model.h"

namespace sono::model {

struct ParameterCounts {
  int64_t total = 0;
  int64_t encoder = 0;
  int64_t encoder_stem = 0;    // _conv_stem + _bn0
  int64_t encoder_blocks = 0;  // the MBConv blocks
  int64_t encoder_used() const { return encoder_stem + encoder_blocks; }
  int64_t encoder_unused_head = 0;  // _conv_head + _bn1 (never run)
  int64_t decoder = 0;
  int64_t decoder_p5 = 0, decoder_p4 = 0, decoder_p3 = 0, decoder_p2 = 0, decoder_seg_blocks = 0;
  int64_t heads = 0;
  std::vector<std::pair<std::string, int64_t>> per_head;  // registry order
};

ParameterCounts count_parameters(const MultiTaskModel& model);

struct TaskMacs {
  std::string id;
  TaskType type;
  int64_t head = 0;   // the head's own conv/linear MACs
  int64_t total = 0;  // encoder (+ decoder) + head
};

struct ModelMacs {
  int64_t height = 0, width = 0;
  EncoderMacs encoder;
  DecoderMacs decoder;
  std::vector<TaskMacs> tasks;  // registry order
};

ModelMacs count_macs(const MultiTaskModel& model, int64_t height, int64_t width);

// A printable summary: parameters per part and per head, MACs per part and
// per task at height x width.
std::string model_info_table(const MultiTaskModel& model, int64_t height = 256, int64_t width = 256);

}  // namespace sono::model
