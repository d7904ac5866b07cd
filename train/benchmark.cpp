#include "train/benchmark.h"

#include <malloc.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "train/task_loss.h"

#if SONO_WITH_CUDA
#include "core/cuda/allocator.h"
#endif

namespace sono {

namespace {

data::TaskType to_data_type(model::TaskType t) {
  switch (t) {
    case model::TaskType::Segmentation: return data::TaskType::Segmentation;
    case model::TaskType::Classification: return data::TaskType::Classification;
    case model::TaskType::Regression: return data::TaskType::Regression;
    case model::TaskType::Detection: return data::TaskType::Detection;
  }
  throw Error("synthetic_batch: unknown task type");
}

Tensor on(const Tensor& t, Device d) { return t.defined() ? t.to(d) : t; }

// A field of /proc/self/status in bytes ("VmRSS:  1234 kB"); 0 when absent.
size_t proc_status_bytes(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const std::string key = std::string(field) + ":";
  while (std::getline(f, line))
    if (line.compare(0, key.size(), key) == 0) return size_t(std::stoull(line.substr(key.size()))) * 1024;
  return 0;
}

}  // namespace

data::Batch synthetic_batch(const model::TaskSpec& task, int64_t batch, int64_t size, Device device, uint64_t seed) {
  SONO_CHECK(batch > 0 && size > 0, "synthetic_batch", "batch and size must be positive, got ", batch, " and ", size);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> unit(0.f, 1.f);
  data::Batch b;
  b.type = to_data_type(task.type);
  for (int64_t i = 0; i < batch; ++i) b.rows.push_back(i);
  std::vector<float> img(size_t(batch * 3 * size * size));
  for (auto& v : img) v = normal(rng);
  b.images = Tensor::from_vector(img, {batch, 3, size, size}).to(device);
  const int64_t c = task.num_classes;
  switch (task.type) {
    case model::TaskType::Segmentation: {
      std::vector<int64_t> m(size_t(batch * size * size));
      for (size_t i = 0; i < m.size(); ++i) m[i] = int64_t(rng() % uint64_t(c));
      b.masks = Tensor::from_vector(m, {batch, size, size}).to(device);
      break;
    }
    case model::TaskType::Classification: {
      std::vector<int64_t> l(static_cast<size_t>(batch));
      for (auto& v : l) v = int64_t(rng() % uint64_t(c));
      b.labels = Tensor::from_vector(l, {batch}).to(device);
      break;
    }
    case model::TaskType::Detection: {
      std::vector<float> boxes;
      for (int64_t i = 0; i < batch; ++i) {
        float x0 = 0.6f * unit(rng), y0 = 0.6f * unit(rng);
        boxes.insert(boxes.end(), {x0, y0, x0 + 0.1f + 0.3f * unit(rng), y0 + 0.1f + 0.3f * unit(rng)});
      }
      b.boxes = Tensor::from_vector(boxes, {batch, 4}).to(device);
      break;
    }
    case model::TaskType::Regression: {
      std::vector<float> p(size_t(batch * 2 * c));
      for (auto& v : p) v = unit(rng);
      b.points = Tensor::from_vector(p, {batch, 2 * c}).to(device);
      break;
    }
  }
  return b;
}

data::Batch batch_to(const data::Batch& b, Device device) {
  data::Batch out = b;
  out.images = on(b.images, device);
  out.masks = on(b.masks, device);
  out.labels = on(b.labels, device);
  out.boxes = on(b.boxes, device);
  out.points = on(b.points, device);
  return out;
}

AdamW benchmark_optimizer(const model::MultiTaskModel& model) {
  ParamGroup g;
  g.name = "all";
  g.params = model.parameters();
  g.lr = g.initial_lr = 1e-4;
  return AdamW({g});
}

Tensor training_step(model::MultiTaskModel& model, AdamW& opt, const data::Batch& batch, const std::string& task_id) {
  opt.zero_grad();
  Tensor out = model.forward(batch.images, task_id);
  Tensor loss = task_loss(batch, out);
  loss.backward();
  opt.step();
  return loss;
}

PeakMemory::PeakMemory(Device device) : device_(device) {
  if (device.is_cpu()) {
    malloc_trim(0);
    std::ofstream reset("/proc/self/clear_refs");
    reset << "5";  // resets VmHWM to the current VmRSS (Linux >= 4.0)
    reset.flush();
    base_ = proc_status_bytes("VmRSS");
    available_ = reset.good() && base_ > 0;
    return;
  }
#if SONO_WITH_CUDA
  cuda::reset_peak_memory(device.index);
  base_ = cuda::memory_stats(device.index).allocated;
  available_ = true;
#endif
}

size_t PeakMemory::peak_bytes() const {
  if (!available_) return 0;
  size_t peak = 0;
  if (device_.is_cpu()) {
    peak = proc_status_bytes("VmHWM");
  } else {
#if SONO_WITH_CUDA
    peak = cuda::memory_stats(device_.index).peak;
#endif
  }
  return peak > base_ ? peak - base_ : 0;
}

}  // namespace sono
