// AdamW element updates on a cuda device (see optim/adamw.h).
//
// Math: optim/adamw_math.h's adamw_update, shared with the CPU loop; the
// per-step scalars (bias corrections, step size) are computed on the host in
// double and rounded once, as PyTorch does.
// Layout: p, g, m (exp_avg), v (exp_avg_sq) contiguous f32 of equal shape.
// Launch: adamw_step is one grid-stride loop. adamw_step_multi updates many
// parameters in ONE launch: the host cuts every parameter into chunks of
// kChunk elements and uploads a table of (parameter slot, chunk start) plus
// the slots (pointers, size, scalars); block b updates chunk b. A training
// step of EfficientNet-B4 + FPN (~500 tensors, many tiny) is then one kernel
// instead of ~500 launches.
// Outputs: p, m, v are updated in place; g is read only.
#include <cstring>
#include <vector>

#include "core/cuda/launch.h"
#include "optim/adamw.h"
#include "optim/adamw_math.h"

namespace sono::cuda {

namespace {

struct Update {
  float* p;
  const float* g;
  float* m;
  float* v;
  AdamWScalars s;
  __device__ void operator()(int64_t i) const { adamw_update(p[i], g[i], m[i], v[i], s); }
};

struct Slot {
  float* p;
  const float* g;
  float* m;
  float* v;
  int64_t n;
  AdamWScalars s;
};

struct Chunk {
  int64_t slot;
  int64_t start;
};

// Elements per block in the fused kernel: a multiple of kBlockSize so each
// thread does kChunk / kBlockSize coalesced updates.
constexpr int64_t kChunk = 32 * kBlockSize;

__global__ void adamw_multi_kernel(const Slot* slots, const Chunk* chunks) {
  const Chunk c = chunks[blockIdx.x];
  const Slot s = slots[c.slot];
  const int64_t end = c.start + kChunk < s.n ? c.start + kChunk : s.n;
  for (int64_t i = c.start + threadIdx.x; i < end; i += blockDim.x) adamw_update(s.p[i], s.g[i], s.m[i], s.v[i], s.s);
}

}  // namespace

void adamw_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, double lr, double beta1,
                double beta2, double eps, double wd, int64_t step) {
  const AdamWScalars s = adamw_scalars(lr, beta1, beta2, eps, wd, step);
  parallel_for(p.device().index, p.numel(),
               Update{p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), s});
}

void adamw_step_multi(const std::vector<AdamWItem>& items) {
  if (items.empty()) return;
  const Device device = items[0].p.device();
  std::vector<Slot> slots;
  std::vector<Chunk> chunks;
  for (const AdamWItem& it : items) {
    SONO_CHECK(it.p.device() == device, "adamw_step_multi", "parameter ", it.p.describe(),
               " is not on the first parameter's device ", device.str());
    const int64_t n = it.p.numel();
    if (n == 0) continue;
    slots.push_back(Slot{it.p.data<float>(), it.g.data<float>(), it.m.data<float>(), it.v.data<float>(), n,
                         adamw_scalars(it.lr, it.beta1, it.beta2, it.eps, it.weight_decay, it.step)});
    for (int64_t start = 0; start < n; start += kChunk) chunks.push_back(Chunk{int64_t(slots.size()) - 1, start});
  }
  if (chunks.empty()) return;
  // One upload for both tables: slots first, chunks after (8-byte aligned).
  const size_t slot_bytes = slots.size() * sizeof(Slot), chunk_bytes = chunks.size() * sizeof(Chunk);
  static_assert(sizeof(Slot) % 8 == 0, "the chunk table must stay aligned after the slots");
  std::vector<unsigned char> host(slot_bytes + chunk_bytes);
  std::memcpy(host.data(), slots.data(), slot_bytes);
  std::memcpy(host.data() + slot_bytes, chunks.data(), chunk_bytes);
  Tensor table = Tensor::empty({int64_t(host.size())}, DType::U8, device);
  copy_bytes(table.raw_data(), device, host.data(), Device::cpu(), host.size());  // synchronous
  const auto* base = static_cast<const unsigned char*>(table.raw_data());
  // Grid x allows 2^31 - 1 blocks: 2^31 chunks of 8192 elements is far beyond any model.
  DeviceGuard guard(device.index);
  adamw_multi_kernel<<<unsigned(chunks.size()), kBlockSize, 0, current_stream(device.index)>>>(
      reinterpret_cast<const Slot*>(base), reinterpret_cast<const Chunk*>(base + slot_bytes));
  SONO_CUDA_CHECK_LAUNCH();
}

}  // namespace sono::cuda
