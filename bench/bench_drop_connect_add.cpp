// ops/drop_connect_add against the unfused add(mul(x, mask), residual) it
// replaces, at MBConv residual outputs (batch: SONO_BENCH_BATCH on the cpu,
// SONO_BENCH_CUDA_BATCH on cuda), the forward under no-grad, and forward +
// backward to x and the residual through the autograd engine:
//   drop_connect_add/<dev>/<fused|unfused>/<fwd|fwd_bwd>/<CxHxW>
// GB/s counts the fused op's minimum bytes (forward reads x and the residual
// and writes the output; backward reads dy and writes dx), for both variants.
// Each variant is checked once against the other before timing.
#include <string>

#include "bench/bench_support.h"
#include "core/autograd.h"
#include "ops/binary.h"
#include "ops/drop_connect_add.h"
#include "ops/dropout.h"

namespace {

using namespace sono;

struct ResShape {
  const char* name;
  int64_t c, h, w;
};
// B4 at 256x256: a stage-1 residual output (the largest), a stage-3 one, a stage-6 one.
const ResShape kShapes[] = {{"24x128x128", 24, 128, 128}, {"56x32x32", 56, 32, 32}, {"272x8x8", 272, 8, 8}};

Tensor run(const Tensor& x, const Tensor& mask, const Tensor& r, bool fused) {
  return fused ? drop_connect_add(x, mask, r) : add(mul(x, mask), r);
}

std::string check(const Tensor& x0, const Tensor& mask, const Tensor& r, const Tensor& gy) {
  std::vector<double> y[2], gx[2];
  for (int v = 0; v < 2; ++v) {
    Tensor x = x0.detach().set_requires_grad(true);
    Tensor out = run(x, mask, r, v == 1);
    out.backward(gy);
    y[v] = bench::host(out);
    gx[v] = bench::host(x.grad());
  }
  std::string err = bench::compare("y", y[0], y[1], 1e-6, 1e-6);
  return err.empty() ? bench::compare("dx", gx[0], gx[1], 0, 0) : err;
}

void drop_connect_add_bench(benchmark::State& state, bench::Target t, ResShape s, bool fused, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  Tensor x = bench::randn({t.batch, s.c, s.h, s.w}, 1, t.device), r = bench::randn(x.shape(), 2, t.device);
  Tensor gy = bench::randn(x.shape(), 3, t.device);
  Generator gen(4);
  Tensor mask = drop_connect_mask(x, 0.2, true, gen);
  if (!bench::validated_once(state, str_cat("drop_connect_add/", t.name, fused ? "/fused/" : "/unfused/", s.name),
                             [&] { return check(x, mask, r, gy); }))
    return;
  if (!backward) {
    bench::time_forward(state, t.device, [&] { return run(x, mask, r, fused); });
    bench::set_gbytes(state, 3 * double(x.numel()) * 4);
    return;
  }
  x.set_requires_grad(true);
  r.set_requires_grad(true);
  bench::time_forward_backward(state, t.device, [&] { return run(x, mask, r, fused); }, gy, {x, r});
  bench::set_gbytes(state, 5 * double(x.numel()) * 4);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const ResShape& s : kShapes)
      for (bool fused : {true, false})
        for (bool bwd : {false, true})
          bench::configure(benchmark::RegisterBenchmark(
              str_cat("drop_connect_add/", t.name, fused ? "/fused" : "/unfused", bwd ? "/fwd_bwd/" : "/fwd/", s.name)
                  .c_str(),
              drop_connect_add_bench, t, s, fused, bwd));
  return true;
}();

}  // namespace
