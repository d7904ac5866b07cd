// Broadcasting arithmetic at the model's shapes (batch: SONO_BENCH_BATCH on
// the cpu, SONO_BENCH_CUDA_BATCH on cuda):
//   binary/<dev>/<fwd|fwd_bwd>/se_mul_<CxHxW>  x * gate, gate [N, C, 1, 1]: the
//       squeeze-and-excitation gate of the MBConv blocks
//   binary/<dev>/<fwd|fwd_bwd>/add_<CxHxW>     x + y of equal shapes: the
//       residual and the FPN top-down adds
// GB/s counts the minimum bytes (per-channel vectors ignored): a forward reads
// its full-size inputs and writes y; the backward reads dy (and x for mul) and
// writes the full-size input gradients. Checked once against double loops.
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/binary.h"

namespace {

using namespace sono;

struct BinaryShape {
  const char* name;
  int64_t c, h, w;
};
// blocks 3-5 (192 ch at 64x64, the largest SE input), stage 5 (672 at 16x16), stage 6 (1632 at 8x8).
const BinaryShape kSeShapes[] = {{"192x64x64", 192, 64, 64}, {"672x16x16", 672, 16, 16}, {"1632x8x8", 1632, 8, 8}};
// A stage-2 residual (32 at 64x64) and the FPN p2 add (256 at 64x64).
const BinaryShape kAddShapes[] = {{"32x64x64", 32, 64, 64}, {"256x64x64", 256, 64, 64}};

std::string check_mul(const Tensor& x, const Tensor& gate, const Tensor& y, int64_t hw) {
  const auto xv = bench::host(x), gv = bench::host(gate);
  std::vector<double> want(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) want[i] = xv[i] * gv[i / size_t(hw)];
  return bench::compare("mul", bench::host(y), want, 1e-6, 1e-7);
}

std::string check_add(const Tensor& a, const Tensor& b, const Tensor& y) {
  const auto av = bench::host(a), bv = bench::host(b);
  std::vector<double> want(av.size());
  for (size_t i = 0; i < av.size(); ++i) want[i] = av[i] + bv[i];
  return bench::compare("add", bench::host(y), want, 1e-6, 1e-7);
}

void se_mul_bench(benchmark::State& state, bench::Target t, BinaryShape s, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  const int64_t n = t.batch;
  Tensor x = bench::randn({n, s.c, s.h, s.w}, 1, t.device);
  Tensor gate = bench::randn({n, s.c, 1, 1}, 2, t.device);
  Tensor gy = bench::randn({n, s.c, s.h, s.w}, 3, t.device);
  if (!bench::validated_once(state, str_cat("binary/", t.name, "/se_mul_", s.name),
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

void add_bench(benchmark::State& state, bench::Target t, BinaryShape s, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  const int64_t n = t.batch;
  Tensor a = bench::randn({n, s.c, s.h, s.w}, 1, t.device);
  Tensor b = bench::randn({n, s.c, s.h, s.w}, 2, t.device);
  Tensor gy = bench::randn({n, s.c, s.h, s.w}, 3, t.device);
  if (!bench::validated_once(state, str_cat("binary/", t.name, "/add_", s.name),
                             [&] { return check_add(a, b, add(a, b)); }))
    return;
  const double bytes = double(a.numel()) * 4;
  if (backward) {
    a.set_requires_grad(true);
    b.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return add(a, b); }, gy, {a, b});
  } else {
    bench::time_forward(state, t.device, [&] { return add(a, b); });
  }
  bench::set_gbytes(state, backward ? 6 * bytes : 3 * bytes);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (bool bwd : {false, true}) {
      const char* pass = bwd ? "/fwd_bwd/" : "/fwd/";
      for (const BinaryShape& s : kSeShapes)
        bench::configure(benchmark::RegisterBenchmark(str_cat("binary/", t.name, pass, "se_mul_", s.name).c_str(),
                                                      se_mul_bench, t, s, bwd));
      for (const BinaryShape& s : kAddShapes)
        bench::configure(benchmark::RegisterBenchmark(str_cat("binary/", t.name, pass, "add_", s.name).c_str(),
                                                      add_bench, t, s, bwd));
    }
  return true;
}();

}  // namespace
