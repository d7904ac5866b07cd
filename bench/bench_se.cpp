// The squeeze-and-excitation pieces of the MBConv blocks that are not convs,
// at the depthwise outputs they run on (batch: SONO_BENCH_BATCH on the cpu,
// SONO_BENCH_CUDA_BATCH on cuda):
//   se_pool/<dev>/<fwd|fwd_bwd>/<CxHxW>  global_avg_pool2d, x -> [N, C, 1, 1]
//   se_mul/<dev>/<fwd|fwd_bwd>/<CxHxW>   x * gate, gate [N, C, 1, 1] broadcast
// GB/s counts the minimum bytes (per-channel vectors ignored): pool forward
// reads x, its backward writes dx; mul forward reads x and writes y, its
// backward reads dy and x and writes dx (d gate = sum dy * x).
// Checked once against double-precision loops before timing.
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/binary.h"
#include "ops/pool.h"

namespace {

using namespace sono;

struct SeShape {
  const char* name;
  int64_t c, h, w;
};
// blocks 3-5 (192 ch at 64x64, the largest), stage 5 (672 at 16x16), stage 6 (1632 at 8x8).
const SeShape kShapes[] = {{"192x64x64", 192, 64, 64}, {"672x16x16", 672, 16, 16}, {"1632x8x8", 1632, 8, 8}};

std::string check_pool(const Tensor& x, const Tensor& y, int64_t planes, int64_t hw) {
  const auto xv = bench::host(x);
  std::vector<double> want(size_t(planes), 0.0);
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t i = 0; i < hw; ++i) want[size_t(p)] += xv[size_t(p * hw + i)];
    want[size_t(p)] /= double(hw);
  }
  return bench::compare("pool", bench::host(y), want, 1e-5, 1e-6);
}

std::string check_mul(const Tensor& x, const Tensor& gate, const Tensor& y, int64_t hw) {
  const auto xv = bench::host(x), gv = bench::host(gate);
  std::vector<double> want(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) want[i] = xv[i] * gv[i / size_t(hw)];
  return bench::compare("mul", bench::host(y), want, 1e-6, 1e-7);
}

void se_pool(benchmark::State& state, bench::Target t, SeShape s, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  const int64_t n = t.batch, hw = s.h * s.w;
  Tensor x = bench::randn({n, s.c, s.h, s.w}, 1, t.device);
  Tensor gy = bench::randn({n, s.c, 1, 1}, 2, t.device);
  if (!bench::validated_once(state, str_cat("se_pool/", t.name, "/", s.name),
                             [&] { return check_pool(x, global_avg_pool2d(x), n * s.c, hw); }))
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

void se_mul(benchmark::State& state, bench::Target t, SeShape s, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  const int64_t n = t.batch;
  Tensor x = bench::randn({n, s.c, s.h, s.w}, 1, t.device);
  Tensor gate = bench::randn({n, s.c, 1, 1}, 2, t.device);
  Tensor gy = bench::randn({n, s.c, s.h, s.w}, 3, t.device);
  if (!bench::validated_once(state, str_cat("se_mul/", t.name, "/", s.name),
                             [&] { return check_mul(x, gate, mul(x, gate), s.h * s.w); }))
    return;
  const double bytes = double(x.numel()) * 4;
  if (backward) {
    x.set_requires_grad(true);
    gate.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return mul(x, gate); }, gy, {x, gate});
  } else {
    bench::time_forward(state, t.device, [&] { return mul(x, gate); });
  }
  bench::set_gbytes(state, backward ? 5 * bytes : 2 * bytes);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const SeShape& s : kShapes)
      for (bool bwd : {false, true}) {
        const char* pass = bwd ? "/fwd_bwd/" : "/fwd/";
        bench::configure(
            benchmark::RegisterBenchmark(str_cat("se_pool/", t.name, pass, s.name).c_str(), se_pool, t, s, bwd));
        bench::configure(
            benchmark::RegisterBenchmark(str_cat("se_mul/", t.name, pass, s.name).c_str(), se_mul, t, s, bwd));
      }
  return true;
}();

}  // namespace
