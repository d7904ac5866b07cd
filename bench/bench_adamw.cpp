// One AdamW update over tensors sized like the model's ~500 parameters (many
// small BN/bias vectors, larger conv weights):
//   adamw/<dev>/per_tensor  the backend's element update, one call per tensor
//   adamw/cuda/fused        every tensor in one kernel launch (what AdamW::step
//                           does on cuda)
// GB/s counts the minimum bytes: read p, g, m, v and write p, m, v.
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/binary.h"
#include "optim/adamw.h"

namespace {

using namespace sono;

std::vector<int64_t> parameter_sizes() {
  std::vector<int64_t> sizes;
  for (int i = 0; i < 120; ++i) {
    const int64_t c = 48 + 16 * i;
    sizes.push_back(c);          // BN weight
    sizes.push_back(c);          // BN bias
    sizes.push_back(c * c / 8);  // a 1x1 conv
    sizes.push_back(c * 25);     // a depthwise 5x5
  }
  sizes.push_back(256 * 128 * 9);
  return sizes;
}

struct Param {
  Tensor p, g, m, v;
};

void adamw_bench(benchmark::State& state, bench::Target t, bool fused) {
  if (bench::skip_unavailable(state, t.device)) return;
  std::vector<Param> params;
  double elements = 0;
  uint64_t seed = 1;
  for (int64_t n : parameter_sizes()) {
    params.push_back({bench::randn({n}, seed, t.device), bench::randn({n}, seed + 1, t.device, 0.01),
                      bench::randn({n}, seed + 2, t.device, 0.001), bench::randn({n}, seed + 3, t.device, 1e-4)});
    params.back().v = mul(params.back().v, params.back().v);  // second moments are >= 0
    seed += 4;
    elements += double(n);
  }
  const double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, wd = 0.01;
  const int64_t step = 7;
  std::function<void()> body = [&] {
    for (const Param& q : params) {
      if (t.device.is_cpu()) cpu::adamw_step(q.p, q.g, q.m, q.v, lr, beta1, beta2, eps, wd, step);
#if SONO_WITH_CUDA
      else cuda::adamw_step(q.p, q.g, q.m, q.v, lr, beta1, beta2, eps, wd, step);
#endif
    }
  };
#if SONO_WITH_CUDA
  std::vector<AdamWItem> items;
  for (const Param& q : params) items.push_back({q.p, q.g, q.m, q.v, lr, beta1, beta2, eps, wd, step});
  if (fused) body = [&] { cuda::adamw_step_multi(items); };
#else
  (void)fused;
#endif
  body();
  bench::synchronize(t.device);
  bench::timed_loop(state, t.device, body);
  bench::set_gbytes(state, 7 * 4 * elements);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets()) {
    bench::configure(
        benchmark::RegisterBenchmark(str_cat("adamw/", t.name, "/per_tensor").c_str(), adamw_bench, t, false));
    if (t.device.is_cuda()) bench::configure(benchmark::RegisterBenchmark("adamw/cuda/fused", adamw_bench, t, true));
  }
  return true;
}();

}  // namespace
