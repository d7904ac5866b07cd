// gather_cells at the detection heads' output (batch: SONO_BENCH_BATCH on the
// cpu, SONO_BENCH_CUDA_BATCH on cuda): the 5-vector at each sample's centre
// cell of [N, 5, 64, 64] (docs/reference-model.md 5.3), and concat along channels:
//   gather/<dev>/<fwd|fwd_bwd>/cells_5x64x64  x -> [N, 5]; the backward
//       zero-fills dx and scatters dy into the N cells
//   gather/<dev>/fwd/concat_4x128x64x64     four [N, 128, 64, 64] -> [N, 512, 64, 64]
// Both are launch- or fill-bound; GB/s counts the bytes they must move (the
// cells: dx written; concat: inputs read, output written). Checked once.
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/gather.h"

namespace {

using namespace sono;

constexpr int64_t kBoxChannels = 5, kGrid = 64, kConcatParts = 4, kConcatChannels = 128;

std::string check_cells(const Tensor& x, const Tensor& rows, const Tensor& cols, const Tensor& y) {
  const auto xv = bench::host(x), r = bench::host(rows), c = bench::host(cols);
  const int64_t n = int64_t(r.size());
  std::vector<double> want(size_t(n * kBoxChannels));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t k = 0; k < kBoxChannels; ++k)
      want[size_t(b * kBoxChannels + k)] =
          xv[size_t(((b * kBoxChannels + k) * kGrid + int64_t(r[size_t(b)])) * kGrid + int64_t(c[size_t(b)]))];
  return bench::compare("cells", bench::host(y), want, 0, 0);
}

void cells_bench(benchmark::State& state, bench::Target t, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  Tensor x = bench::randn({t.batch, kBoxChannels, kGrid, kGrid}, 1, t.device);
  Tensor rows = bench::randint({t.batch}, kGrid, 2, t.device), cols = bench::randint({t.batch}, kGrid, 3, t.device);
  Tensor gy = bench::randn({t.batch, kBoxChannels}, 4, t.device);
  if (!bench::validated_once(state, str_cat("gather/", t.name, "/cells"),
                             [&] { return check_cells(x, rows, cols, gather_cells(x, rows, cols)); }))
    return;
  if (backward) {
    x.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return gather_cells(x, rows, cols); }, gy, {x});
  } else {
    bench::time_forward(state, t.device, [&] { return gather_cells(x, rows, cols); });
  }
  bench::set_gbytes(state, backward ? double(x.numel()) * 4 : double(t.batch * kBoxChannels) * 4);
}

void concat_bench(benchmark::State& state, bench::Target t) {
  if (bench::skip_unavailable(state, t.device)) return;
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < kConcatParts; ++i)
    parts.push_back(bench::randn({t.batch, kConcatChannels, kGrid, kGrid}, uint64_t(10 + i), t.device));
  auto check = [&] {
    std::vector<double> want;
    const int64_t plane = kConcatChannels * kGrid * kGrid;
    std::vector<std::vector<double>> hv;
    for (const Tensor& p : parts) hv.push_back(bench::host(p));
    for (int64_t b = 0; b < t.batch; ++b)
      for (const auto& v : hv) want.insert(want.end(), v.begin() + b * plane, v.begin() + (b + 1) * plane);
    return bench::compare("concat", bench::host(concat(parts, 1)), want, 0, 0);
  };
  if (!bench::validated_once(state, str_cat("gather/", t.name, "/concat"), check)) return;
  bench::time_forward(state, t.device, [&] { return concat(parts, 1); });
  bench::set_gbytes(state, 2 * double(parts[0].numel()) * kConcatParts * 4);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets()) {
    for (bool bwd : {false, true})
      bench::configure(benchmark::RegisterBenchmark(
          str_cat("gather/", t.name, bwd ? "/fwd_bwd/" : "/fwd/", "cells_5x64x64").c_str(), cells_bench, t, bwd));
    bench::configure(
        benchmark::RegisterBenchmark(str_cat("gather/", t.name, "/fwd/concat_4x128x64x64").c_str(), concat_bench, t));
  }
  return true;
}();

}  // namespace
