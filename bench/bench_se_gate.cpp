// ops/se_gate against the unfused mul(sigmoid(s), x) it replaces, at MBConv
// SE inputs (batch: SONO_BENCH_BATCH on the cpu, SONO_BENCH_CUDA_BATCH on
// cuda), the forward under no-grad, and forward + backward to x and the logits
// through the autograd engine:
//   se_gate/<dev>/<fused|unfused>/<fwd|fwd_bwd>/<CxHxW>
// GB/s counts the fused op's minimum bytes (forward reads x and writes the
// output; backward reads dy and x and writes dx), for both variants. Each
// variant is checked once against the other before timing.
#include <string>

#include "bench/bench_support.h"
#include "core/autograd.h"
#include "ops/activation.h"
#include "ops/binary.h"
#include "ops/se_gate.h"

namespace {

using namespace sono;

struct SeShape {
  const char* name;
  int64_t c, h, w;
};
// B4 at 256x256: a stage-2 depthwise output (among the largest SE inputs), a stage-3 one, stage 6.
const SeShape kShapes[] = {{"192x64x64", 192, 64, 64}, {"336x32x32", 336, 32, 32}, {"1632x8x8", 1632, 8, 8}};

Tensor run(const Tensor& x, const Tensor& s, bool fused) { return fused ? se_gate(x, s) : mul(sigmoid(s), x); }

std::string check(const Tensor& x0, const Tensor& s0, const Tensor& gy) {
  std::vector<double> y[2], gx[2], gs[2];
  for (int v = 0; v < 2; ++v) {
    Tensor x = x0.detach().set_requires_grad(true), s = s0.detach().set_requires_grad(true);
    Tensor out = run(x, s, v == 1);
    out.backward(gy);
    y[v] = bench::host(out);
    gx[v] = bench::host(x.grad());
    gs[v] = bench::host(s.grad());
  }
  std::string err = bench::compare("y", y[0], y[1], 0, 0);
  if (err.empty()) err = bench::compare("dx", gx[0], gx[1], 0, 0);
  return err.empty() ? bench::compare("ds", gs[0], gs[1], 1e-4, 1e-4) : err;
}

void se_gate_bench(benchmark::State& state, bench::Target t, SeShape sh, bool fused, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  Tensor x = bench::randn({t.batch, sh.c, sh.h, sh.w}, 1, t.device),
         s = bench::randn({t.batch, sh.c, 1, 1}, 2, t.device);
  Tensor gy = bench::randn(x.shape(), 3, t.device);
  if (!bench::validated_once(state, str_cat("se_gate/", t.name, fused ? "/fused/" : "/unfused/", sh.name),
                             [&] { return check(x, s, gy); }))
    return;
  if (!backward) {
    bench::time_forward(state, t.device, [&] { return run(x, s, fused); });
    bench::set_gbytes(state, 2 * double(x.numel()) * 4);
    return;
  }
  x.set_requires_grad(true);
  s.set_requires_grad(true);
  bench::time_forward_backward(state, t.device, [&] { return run(x, s, fused); }, gy, {x, s});
  bench::set_gbytes(state, 5 * double(x.numel()) * 4);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const SeShape& s : kShapes)
      for (bool fused : {true, false})
        for (bool bwd : {false, true})
          bench::configure(benchmark::RegisterBenchmark(
              str_cat("se_gate/", t.name, fused ? "/fused" : "/unfused", bwd ? "/fwd_bwd/" : "/fwd/", s.name).c_str(),
              se_gate_bench, t, s, fused, bwd));
  return true;
}();

}  // namespace
