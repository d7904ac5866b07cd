// global_avg_pool2d at the squeeze-and-excitation inputs of the MBConv blocks
// and the classification/regression heads' input (batch: SONO_BENCH_BATCH on
// the cpu, SONO_BENCH_CUDA_BATCH on cuda):
//   pool/<dev>/<fwd|fwd_bwd>/<CxHxW>  x -> [N, C, 1, 1]
// GB/s counts the minimum bytes: the forward reads x, the backward writes dx
// (per-channel vectors ignored). Checked once against a double-precision loop.
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/pool.h"

namespace {

using namespace sono;

struct PoolShape {
  const char* name;
  int64_t c, h, w;
};
// blocks 3-5 (192 ch at 64x64, the largest SE input), stage 5 (672 at 16x16),
// stage 6 (1632 at 8x8), the encoder output the heads pool (448 at 8x8).
const PoolShape kShapes[] = {
    {"192x64x64", 192, 64, 64}, {"672x16x16", 672, 16, 16}, {"1632x8x8", 1632, 8, 8}, {"448x8x8", 448, 8, 8}};

std::string check(const Tensor& x, const Tensor& y, int64_t planes, int64_t hw) {
  const auto xv = bench::host(x);
  std::vector<double> want(size_t(planes), 0.0);
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < hw; ++i) want[size_t(p)] += xv[size_t(p * hw + i)];
    want[size_t(p)] /= double(hw);
  }
  return bench::compare("pool", bench::host(y), want, 1e-5, 1e-6);
}

void pool_bench(benchmark::State& state, bench::Target t, PoolShape s, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  const int64_t n = t.batch, hw = s.h * s.w;
  Tensor x = bench::randn({n, s.c, s.h, s.w}, 1, t.device);
  Tensor gy = bench::randn({n, s.c, 1, 1}, 2, t.device);
  if (!bench::validated_once(state, str_cat("pool/", t.name, "/", s.name),
                             [&] { return check(x, global_avg_pool2d(x), n * s.c, hw); }))
    return;
  const double bytes = double(x.numel()) * 4;
  if (backward) {
    x.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return global_avg_pool2d(x); }, gy, {x});
  } else {
    bench::time_forward(state, t.device, [&] { return global_avg_pool2d(x); });
  }
  bench::set_gbytes(state, backward ? 2 * bytes : bytes);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const PoolShape& s : kShapes)
      for (bool bwd : {false, true})
        bench::configure(benchmark::RegisterBenchmark(
            str_cat("pool/", t.name, bwd ? "/fwd_bwd/" : "/fwd/", s.name).c_str(), pool_bench, t, s, bwd));
  return true;
}();

}  // namespace
