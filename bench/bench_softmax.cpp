// softmax and log_softmax over the class axis at the losses' shapes (batch:
// SONO_BENCH_BATCH on the cpu, SONO_BENCH_CUDA_BATCH on cuda):
//   softmax/<dev>/<fwd|fwd_bwd>/softmax_4x256x256  the Dice loss's
//       probabilities of cardiac_multi's logits [N, 4, 256, 256], dim 1
//   softmax/<dev>/<fwd|fwd_bwd>/log_softmax_6      cross-entropy's [N, 6], dim 1
// GB/s counts the minimum bytes: the forward reads x and writes y; the
// backward reads y and dy and writes dx. Checked once against double formulas.
#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/softmax.h"

namespace {

using namespace sono;

struct SoftmaxCase {
  const char* name;
  bool log;
  int64_t classes, h, w;  // h = w = 0: [N, classes]
};
const SoftmaxCase kCases[] = {{"softmax_4x256x256", false, 4, 256, 256}, {"log_softmax_6", true, 6, 0, 0}};

Shape shape_of(const SoftmaxCase& c, int64_t n) { return c.h ? Shape{n, c.classes, c.h, c.w} : Shape{n, c.classes}; }

Tensor apply(const SoftmaxCase& c, const Tensor& x) { return c.log ? log_softmax(x, 1) : softmax(x, 1); }

std::string check(const SoftmaxCase& c, const Tensor& x, const Tensor& y) {
  const auto xv = bench::host(x);
  const int64_t inner = c.h ? c.h * c.w : 1, outer = int64_t(xv.size()) / (c.classes * inner);
  std::vector<double> want(xv.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return size_t((o * c.classes + k) * inner + i); };
      double mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < c.classes; ++k) mx = std::max(mx, xv[at(k)]);
      for (int64_t k = 0; k < c.classes; ++k) sum += std::exp(xv[at(k)] - mx);
      for (int64_t k = 0; k < c.classes; ++k)
        want[at(k)] = c.log ? xv[at(k)] - mx - std::log(sum) : std::exp(xv[at(k)] - mx) / sum;
    }
  return bench::compare("y", bench::host(y), want, 1e-5, 1e-6);
}

void softmax_bench(benchmark::State& state, bench::Target t, SoftmaxCase c, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  const Shape shape = shape_of(c, t.batch);
  Tensor x = bench::randn(shape, 1, t.device, 3.0), gy = bench::randn(shape, 2, t.device);
  if (!bench::validated_once(state, str_cat("softmax/", t.name, "/", c.name), [&] { return check(c, x, apply(c, x)); }))
    return;
  const double bytes = double(x.numel()) * 4;
  if (backward) {
    x.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return apply(c, x); }, gy, {x});
  } else {
    bench::time_forward(state, t.device, [&] { return apply(c, x); });
  }
  bench::set_gbytes(state, backward ? 5 * bytes : 2 * bytes);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const SoftmaxCase& c : kCases)
      for (bool bwd : {false, true})
        bench::configure(benchmark::RegisterBenchmark(
            str_cat("softmax/", t.name, bwd ? "/fwd_bwd/" : "/fwd/", c.name).c_str(), softmax_bench, t, c, bwd));
  return true;
}();

}  // namespace
