// Reductions the model and its read-outs run (batch: SONO_BENCH_BATCH on the
// cpu, SONO_BENCH_CUDA_BATCH on cuda):
//   reduce/<dev>/<fwd|fwd_bwd>/sum_nhw_128x64x64  sum over dims {0, 2, 3} of
//       [N, 128, 64, 64] (a per-channel reduction, as a bias gradient)
//   reduce/<dev>/<fwd|fwd_bwd>/mean_4x256x256     mean of all elements (a loss)
//   reduce/<dev>/fwd/argmax_4x256x256             argmax over the classes of a
//       segmentation output (the prediction read-out)
// GB/s counts the minimum bytes: a forward reads x; a backward writes dx.
// Checked once against double-precision loops.
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/reduce.h"

namespace {

using namespace sono;

enum class Kind { SumNHW, Mean, Argmax };
struct ReduceCase {
  const char* name;
  Kind kind;
  int64_t c, h, w;
};
const ReduceCase kCases[] = {{"sum_nhw_128x64x64", Kind::SumNHW, 128, 64, 64},
                             {"mean_4x256x256", Kind::Mean, 4, 256, 256},
                             {"argmax_4x256x256", Kind::Argmax, 4, 256, 256}};

Tensor apply(const ReduceCase& c, const Tensor& x) {
  if (c.kind == Kind::SumNHW) return sum(x, {0, 2, 3});
  if (c.kind == Kind::Mean) return mean(x);
  return argmax(x, 1);
}

std::string check(const ReduceCase& c, const Tensor& x, const Tensor& y) {
  const auto xv = bench::host(x);
  const int64_t hw = c.h * c.w, n = int64_t(xv.size()) / (c.c * hw);
  std::vector<double> want;
  if (c.kind == Kind::SumNHW) {
    want.assign(size_t(c.c), 0.0);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t k = 0; k < c.c; ++k)
        for (int64_t i = 0; i < hw; ++i) want[size_t(k)] += xv[size_t((b * c.c + k) * hw + i)];
  } else if (c.kind == Kind::Mean) {
    double s = 0;
    for (double v : xv) s += v;
    want = {s / double(xv.size())};
  } else {
    want.assign(size_t(n * hw), 0.0);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < hw; ++i) {
        int64_t best = 0;
        for (int64_t k = 1; k < c.c; ++k)
          if (xv[size_t((b * c.c + k) * hw + i)] > xv[size_t((b * c.c + best) * hw + i)]) best = k;
        want[size_t(b * hw + i)] = double(best);
      }
  }
  return bench::compare("y", bench::host(y), want, 1e-5, 1e-5);
}

void reduce_bench(benchmark::State& state, bench::Target t, ReduceCase c, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  Tensor x = bench::randn({t.batch, c.c, c.h, c.w}, 1, t.device);
  if (!bench::validated_once(state, str_cat("reduce/", t.name, "/", c.name), [&] { return check(c, x, apply(c, x)); }))
    return;
  const double bytes = double(x.numel()) * 4;
  if (backward) {
    Tensor y = apply(c, x);
    Tensor gy = bench::randn(y.shape(), 2, t.device);
    x.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return apply(c, x); }, gy, {x});
  } else {
    bench::time_forward(state, t.device, [&] { return apply(c, x); });
  }
  bench::set_gbytes(state, backward ? 2 * bytes : bytes);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const ReduceCase& c : kCases)
      for (bool bwd : {false, true}) {
        if (bwd && c.kind == Kind::Argmax) continue;  // no gradient
        bench::configure(benchmark::RegisterBenchmark(
            str_cat("reduce/", t.name, bwd ? "/fwd_bwd/" : "/fwd/", c.name).c_str(), reduce_bench, t, c, bwd));
      }
  return true;
}();

}  // namespace
