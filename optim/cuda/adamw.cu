// AdamW element updates on a cuda device (see optim/adamw.h).
//
// Math: optim/adamw_math.h's adamw_update, shared with the CPU loop; the
// per-step scalars (bias corrections, step size) are computed on the host in
// double and rounded once, as PyTorch does.
// Layout: p, g, m (exp_avg), v (exp_avg_sq) contiguous f32 of equal shape.
// Launch: adamw_step is one grid-stride loop. adamw_step_multi updates many
// parameters in ONE launch: every parameter is cut into chunks of kChunk
// elements; a device table holds the slots (pointers, size, scalar set) and
// the chunks (slot, start), and block b updates chunk b. A training step of
// EfficientNet-B4 + FPN (~500 tensors, many tiny) is then one kernel instead
// of ~500 launches.
// No host round trip: the table is per device (a ContextCache) and uploaded,
// with an asynchronous copy on the device's stream, only when it differs from
// the previous call's (new parameters, gradients at new addresses, a changed
// pattern of step counts). The scalars that change every step (lr, bias
// corrections) are deduplicated into "scalar sets", one per distinct group
// hyper-parameters + step count, and passed as kernel arguments; a slot names
// its set. More than kMaxSets sets take one launch per kMaxSets.
// Outputs: p, m, v are updated in place; g is read only.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/cuda/host_staging.h"
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
  int64_t set;  // index into the step's scalar sets
};

struct Chunk {
  int64_t slot;
  int64_t start;
};

// Elements per block in the fused kernel: a multiple of kBlockSize so each
// thread does kChunk / kBlockSize coalesced updates.
constexpr int64_t kChunk = 32 * kBlockSize;

// Kernel arguments: sets [base, base + count) of the step (28 bytes each,
// well inside the 4 KiB argument limit).
constexpr int kMaxSets = 64;
struct StepScalars {
  int64_t base, count;
  AdamWScalars s[kMaxSets];
};

__global__ void adamw_multi_kernel(const Slot* slots, const Chunk* chunks, const StepScalars sets) {
  const Chunk c = chunks[blockIdx.x];
  const Slot s = slots[c.slot];
  const int64_t k = s.set - sets.base;
  if (k < 0 || k >= sets.count) return;  // another launch of this step has its set
  const AdamWScalars a = sets.s[k];
  const int64_t end = c.start + kChunk < s.n ? c.start + kChunk : s.n;
  for (int64_t i = c.start + threadIdx.x; i < end; i += blockDim.x) adamw_update(s.p[i], s.g[i], s.m[i], s.v[i], a);
}

// The last uploaded table of a device: host bytes (to compare with) and the
// device copy the kernel reads.
class AdamWTable final : public ContextCache {
 public:
  explicit AdamWTable(int) {}
  std::mutex mutex;  // one update at a time per device
  std::vector<unsigned char> host;
  Tensor device;
};

struct SetKey {
  double lr, beta1, beta2, eps, wd;
  int64_t step;
  bool operator==(const SetKey& o) const {
    return lr == o.lr && beta1 == o.beta1 && beta2 == o.beta2 && eps == o.eps && wd == o.wd && step == o.step;
  }
};

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
  std::vector<SetKey> keys;  // distinct, in order of first use: stable from step to step
  std::vector<AdamWScalars> sets;
  for (const AdamWItem& it : items) {
    SONO_CHECK(it.p.device() == device, "adamw_step_multi", "parameter ", it.p.describe(),
               " is not on the first parameter's device ", device.str());
    const int64_t n = it.p.numel();
    if (n == 0) continue;
    const SetKey key{it.lr, it.beta1, it.beta2, it.eps, it.weight_decay, it.step};
    size_t set = 0;
    while (set < keys.size() && !(keys[set] == key)) ++set;
    if (set == keys.size()) {
      keys.push_back(key);
      sets.push_back(adamw_scalars(it.lr, it.beta1, it.beta2, it.eps, it.weight_decay, it.step));
    }
    slots.push_back(
        Slot{it.p.data<float>(), it.g.data<float>(), it.m.data<float>(), it.v.data<float>(), n, int64_t(set)});
    for (int64_t start = 0; start < n; start += kChunk) chunks.push_back(Chunk{int64_t(slots.size()) - 1, start});
  }
  if (chunks.empty()) return;
  // One table: slots first, chunks after (8-byte aligned).
  const size_t slot_bytes = slots.size() * sizeof(Slot), chunk_bytes = chunks.size() * sizeof(Chunk);
  static_assert(sizeof(Slot) % 8 == 0, "the chunk table must stay aligned after the slots");
  std::vector<unsigned char> host(slot_bytes + chunk_bytes);
  std::memcpy(host.data(), slots.data(), slot_bytes);
  std::memcpy(host.data() + slot_bytes, chunks.data(), chunk_bytes);

  const int index = device.index;
  AdamWTable& table = context_cache<AdamWTable>(index);
  std::lock_guard<std::mutex> lock(table.mutex);
  DeviceGuard guard(index);
  cudaStream_t stream = current_stream(index);
  if (host != table.host) {
    if (!table.device.defined() || table.device.numel() < int64_t(host.size()))
      table.device = Tensor::empty({int64_t(host.size())}, DType::U8, device);
    // Ordered after the previous launch that read the table. Through pinned
    // staging the call never waits for the device (core/cuda/host_staging.h),
    // and `host` may change right after.
    upload_async(table.device.raw_data(), host.data(), host.size(), index, stream);
    table.host = std::move(host);
  }
  const auto* base = static_cast<const unsigned char*>(table.device.raw_data());
  for (size_t first = 0; first < sets.size(); first += kMaxSets) {
    StepScalars args{int64_t(first), int64_t(std::min(sets.size() - first, size_t(kMaxSets))), {}};
    for (int64_t k = 0; k < args.count; ++k) args.s[k] = sets[first + size_t(k)];
    // Grid x allows 2^31 - 1 blocks: 2^31 chunks of 8192 elements is far beyond any model.
    adamw_multi_kernel<<<unsigned(chunks.size()), kBlockSize, 0, stream>>>(
        reinterpret_cast<const Slot*>(base), reinterpret_cast<const Chunk*>(base + slot_bytes), args);
    SONO_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace sono::cuda
