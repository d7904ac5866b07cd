#pragma once
// Peak memory of one training step (train/step.h), estimated from shapes
// alone: the model's parameters, their gradients and AdamW's two moments,
// the batch, and the activations autograd keeps for backward, walked block
// by block through the model's plan (encoder, FPN decoder, each task's head
// and loss). Nothing is allocated for the activations, so any size and batch
// can be asked (`sono doctor --batch 100000 --size 2048`).
//
// The activation count is of tensors *saved* for backward (a BatchNorm's
// input, a SiLU's input, a convolution's input, ...), per sample, plus the
// largest gradient pair alive while backward runs. tests/train/test_memory_estimate.cpp
// runs real training steps on the CPU at small sizes and checks the estimate
// against the CPU allocator's measured peak (core/allocator.h) within
// kMemoryEstimateTolerance; docs/doctor.md states the observed errors.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/device.h"
#include "model/multitask_model.h"

namespace sono {

// The bound the test holds the estimate to: |estimate - measured| <= this
// share of the measured peak, on the CPU.
constexpr double kMemoryEstimateTolerance = 0.15;

struct TaskMemory {
  std::string id;
  TaskType type = TaskType::Segmentation;
  size_t activation_bytes = 0;  // saved for backward, whole batch
  size_t backward_bytes = 0;    // the largest gradient pair of backward, whole batch
  size_t gradient_bytes = 0;    // of the parameters this task's step reaches
  size_t batch_bytes = 0;       // images + targets of the batch
  size_t peak_bytes = 0;        // state + all of the above
};

struct MemoryEstimate {
  int64_t image_size = 0, batch = 0;
  int64_t parameters = 0;
  size_t state_bytes = 0;         // weights + AdamW moments + buffers (float32)
  size_t device_reserve = 0;      // cuda only: context, library handles, allocator rounding
  std::vector<TaskMemory> tasks;  // registry order
  size_t peak_bytes = 0;          // the largest task's peak (+ device_reserve)
  std::string peak_task;
};

// peak = state + batch + max(activations + backward pair, gradients): the
// larger of backward's start and its end.
// The estimate for a training step of each of `model`'s tasks at
// `image_size` x `image_size` with `batch` rows, on a device of `device`'s
// kind (a GPU adds kCudaReserve). Float32 storage (fp32 and tf32 alike).
MemoryEstimate estimate_training_memory(const model::MultiTaskModel& model, int64_t image_size, int64_t batch,
                                        Device device);

// What a CUDA process holds on the device besides its tensors: the context,
// cuDNN and cuBLAS handles and workspaces, and the caching allocator's
// rounding. A stated allowance, not a measurement.
constexpr size_t kCudaReserve = size_t(1) << 30;

}  // namespace sono
