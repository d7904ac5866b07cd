// ops/activation: SiLU, the encoder's activation, and sigmoid (the SE gate's)
// at SiLU's largest inputs (batch: SONO_BENCH_BATCH on the cpu,
// SONO_BENCH_CUDA_BATCH on cuda):
//   silu/<dev>/<fwd|fwd_bwd>/<CxHxW>, sigmoid/<dev>/<fwd|fwd_bwd>/<CxHxW>
// GB/s counts the minimum bytes: forward reads x and writes y; backward reads
// x (SiLU) or y (sigmoid) and dy and writes dx. Checked once against
// double-precision formulas.
#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "core/autograd.h"
#include "ops/activation.h"

namespace {

using namespace sono;

struct SiluShape {
  const char* name;
  int64_t c, h, w;
};
// blk2's expand output (the largest SiLU input), a block-3 depthwise output, stage 6.
const SiluShape kShapes[] = {{"144x128x128", 144, 128, 128}, {"192x64x64", 192, 64, 64}, {"1632x8x8", 1632, 8, 8}};

Tensor apply(bool is_silu, const Tensor& x) { return is_silu ? silu(x) : sigmoid(x); }

std::string check(bool is_silu, const Tensor& x, const Tensor& gy) {
  Tensor xr = x.detach().set_requires_grad(true);
  Tensor y = apply(is_silu, xr);
  y.backward(gy);
  const auto xv = bench::host(x), gv = bench::host(gy);
  std::vector<double> want_y(xv.size()), want_gx(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    const double s = 1 / (1 + std::exp(-xv[i]));
    want_y[i] = is_silu ? xv[i] * s : s;
    want_gx[i] = gv[i] * (is_silu ? s * (1 + xv[i] * (1 - s)) : s * (1 - s));
  }
  std::string err = bench::compare("y", bench::host(y), want_y, 1e-5, 1e-6);
  return err.empty() ? bench::compare("dx", bench::host(xr.grad()), want_gx, 1e-5, 1e-6) : err;
}

void activation_bench(benchmark::State& state, bench::Target t, bool is_silu, SiluShape s, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  Tensor x = bench::randn({t.batch, s.c, s.h, s.w}, 1, t.device, 3.0);
  Tensor gy = bench::randn({t.batch, s.c, s.h, s.w}, 2, t.device);
  if (!bench::validated_once(state, str_cat(is_silu ? "silu/" : "sigmoid/", t.name, "/", s.name),
                             [&] { return check(is_silu, x, gy); }))
    return;
  const double bytes = double(x.numel()) * 4;
  if (backward) {
    x.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return apply(is_silu, x); }, gy, {x});
  } else {
    bench::time_forward(state, t.device, [&] { return apply(is_silu, x); });
  }
  bench::set_gbytes(state, backward ? 5 * bytes : 2 * bytes);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (bool is_silu : {true, false})
      for (const SiluShape& s : kShapes)
        for (bool bwd : {false, true})
          bench::configure(benchmark::RegisterBenchmark(
              str_cat(is_silu ? "silu/" : "sigmoid/", t.name, bwd ? "/fwd_bwd/" : "/fwd/", s.name).c_str(),
              activation_bench, t, is_silu, s, bwd));
  return true;
}();

}  // namespace
