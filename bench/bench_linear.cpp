// linear (y = x W^T + b) at the heads' shapes and one GEMM-sized case
// (batch: SONO_BENCH_BATCH on the cpu, SONO_BENCH_CUDA_BATCH on cuda):
//   linear/<dev>/<fwd|fwd_bwd>/cls_448to8  the widest classification head
//   linear/<dev>/<fwd|fwd_bwd>/reg_448to6  a 3-point regression head
//   linear/<dev>/<fwd|fwd_bwd>/wide_448x64to448  [N * 64, 448] -> 448, where
//       the GEMM rather than the launch dominates
// GFLOP/s with FLOPs = 2 * multiply-adds (forward + backward: 3x the forward).
// Checked once against a double-precision loop.
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/linear.h"

namespace {

using namespace sono;

struct LinearCase {
  const char* name;
  int64_t rows_per_sample, in, out;
};
const LinearCase kCases[] = {{"cls_448to8", 1, 448, 8}, {"reg_448to6", 1, 448, 6}, {"wide_448x64to448", 64, 448, 448}};

std::string check(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y) {
  const auto xv = bench::host(x), wv = bench::host(w), bv = bench::host(b);
  const int64_t rows = x.shape()[0], in = x.shape()[1], out = w.shape()[0];
  std::vector<double> want(size_t(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = bv[size_t(o)];
      for (int64_t i = 0; i < in; ++i) acc += xv[size_t(r * in + i)] * wv[size_t(o * in + i)];
      want[size_t(r * out + o)] = acc;
    }
  return bench::compare("y", bench::host(y), want, 1e-4, 1e-4);
}

void linear_bench(benchmark::State& state, bench::Target t, LinearCase c, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  const int64_t rows = t.batch * c.rows_per_sample;
  Tensor x = bench::randn({rows, c.in}, 1, t.device), w = bench::randn({c.out, c.in}, 2, t.device, 0.05);
  Tensor b = bench::randn({c.out}, 3, t.device), gy = bench::randn({rows, c.out}, 4, t.device);
  if (!bench::validated_once(state, str_cat("linear/", t.name, "/", c.name),
                             [&] { return check(x, w, b, linear(x, w, b)); }))
    return;
  if (backward) {
    for (Tensor* p : {&x, &w, &b}) p->set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return linear(x, w, b); }, gy, {x, w, b});
  } else {
    bench::time_forward(state, t.device, [&] { return linear(x, w, b); });
  }
  bench::set_gflops(state, (backward ? 6 : 2) * double(rows) * double(c.in) * double(c.out));
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const LinearCase& c : kCases)
      for (bool bwd : {false, true})
        bench::configure(benchmark::RegisterBenchmark(
            str_cat("linear/", t.name, bwd ? "/fwd_bwd/" : "/fwd/", c.name).c_str(), linear_bench, t, c, bwd));
  return true;
}();

}  // namespace
