// The model's random masking at its shapes (batch: SONO_BENCH_BATCH on the
// cpu, SONO_BENCH_CUDA_BATCH on cuda), in training mode:
//   dropout/<dev>/<fwd|fwd_bwd>/dropout2d_128x64x64   the FPN decoder's Dropout2d(0.2)
//   dropout/<dev>/<fwd|fwd_bwd>/drop_connect_32x64x64 a stage-2 block's stochastic depth
//   dropout/<dev>/<fwd|fwd_bwd>/dropout_448           the classification head's Dropout(0.2)
// GB/s counts the minimum bytes: the forward reads x and writes y; the
// backward reads dy and writes dx (the masks ignored). Checked once: every
// output element is 0 or x / (1 - p), and the kept fraction is near 1 - p.
#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/dropout.h"

namespace {

using namespace sono;

enum class Kind { Dropout, Dropout2d, DropConnect };

struct DropoutCase {
  const char* name;
  Kind kind;
  double p;
  Shape sample;  // one sample's shape
};
const DropoutCase kCases[] = {{"dropout2d_128x64x64", Kind::Dropout2d, 0.2, {128, 64, 64}},
                              {"drop_connect_32x64x64", Kind::DropConnect, 0.2 * 4 / 32, {32, 64, 64}},
                              {"dropout_448", Kind::Dropout, 0.2, {448}}};

Tensor apply(const DropoutCase& c, const Tensor& x, Generator& gen) {
  if (c.kind == Kind::Dropout2d) return dropout2d(x, c.p, true, gen);
  if (c.kind == Kind::DropConnect) return drop_connect(x, c.p, true, gen);
  return dropout(x, c.p, true, gen);
}

std::string check(const DropoutCase& c, const Tensor& x, const Tensor& y) {
  const auto xv = bench::host(x), yv = bench::host(y);
  const double scale = 1 / (1 - c.p);
  size_t kept = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    if (yv[i] == 0 && xv[i] != 0) continue;
    if (std::fabs(yv[i] - xv[i] * scale) > 1e-6 * (1 + std::fabs(xv[i] * scale)))
      return str_cat("y[", i, "] = ", yv[i], ", neither 0 nor x / (1 - p) = ", xv[i] * scale);
    ++kept;
  }
  // Planes (dropout2d) and samples (drop_connect) are few: a loose bound.
  const double fraction = double(kept) / double(xv.size());
  if (c.kind == Kind::Dropout && std::fabs(fraction - (1 - c.p)) > 0.1)
    return str_cat("kept fraction ", fraction, ", expected about ", 1 - c.p);
  if (!std::isfinite(fraction) || kept == 0) return "no element kept";
  return "";
}

void dropout_bench(benchmark::State& state, bench::Target t, DropoutCase c, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  Shape shape{t.batch};
  shape.insert(shape.end(), c.sample.begin(), c.sample.end());
  Tensor x = bench::randn(shape, 1, t.device), gy = bench::randn(shape, 2, t.device);
  Generator gen(42);
  if (!bench::validated_once(state, str_cat("dropout/", t.name, "/", c.name),
                             [&] { return check(c, x, apply(c, x, gen)); }))
    return;
  const double bytes = double(x.numel()) * 4;
  if (backward) {
    x.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return apply(c, x, gen); }, gy, {x});
  } else {
    bench::time_forward(state, t.device, [&] { return apply(c, x, gen); });
  }
  bench::set_gbytes(state, backward ? 4 * bytes : 2 * bytes);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const DropoutCase& c : kCases)
      for (bool bwd : {false, true})
        bench::configure(benchmark::RegisterBenchmark(
            str_cat("dropout/", t.name, bwd ? "/fwd_bwd/" : "/fwd/", c.name).c_str(), dropout_bench, t, c, bwd));
  return true;
}();

}  // namespace
