// The decoder's and the segmentation head's resizes (batch: SONO_BENCH_BATCH
// on the cpu, SONO_BENCH_CUDA_BATCH on cuda):
//   upsample/<dev>/<fwd|fwd_bwd>/nearest2x_256x32x32    FPN top-down, p3 -> p2
//   upsample/<dev>/<fwd|fwd_bwd>/bilinear2x_128x32x32   segmentation block, align_corners
//   upsample/<dev>/<fwd|fwd_bwd>/bilinear4x_4x64x64     head of a 4-class task, to 256x256
// GB/s counts the minimum bytes: forward reads x and writes y; backward reads
// dy and writes dx. Checked once against double-precision loops.
#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/upsample.h"

namespace {

using namespace sono;

struct UpsampleCase {
  const char* name;
  int64_t c, h, w, factor;
  bool bilinear;  // else nearest (factor 2)
};
const UpsampleCase kCases[] = {{"nearest2x_256x32x32", 256, 32, 32, 2, false},
                               {"bilinear2x_128x32x32", 128, 32, 32, 2, true},
                               {"bilinear4x_4x64x64", 4, 64, 64, 4, true}};

Tensor forward(const UpsampleCase& u, const Tensor& x) {
  return u.bilinear ? upsample_bilinear2d(x, u.h * u.factor, u.w * u.factor, true) : upsample_nearest2x(x);
}

// align_corners=True: output pixel d reads source d * (in - 1) / (out - 1).
std::vector<double> reference(const UpsampleCase& u, const std::vector<double>& x, int64_t planes) {
  const int64_t oh = u.h * u.factor, ow = u.w * u.factor;
  std::vector<double> y(size_t(planes * oh * ow));
  auto source = [&](int64_t d, int64_t in, int64_t out, int64_t& i0, int64_t& i1, double& l1) {
    if (!u.bilinear) {
      i0 = i1 = d / 2;
      l1 = 0;
      return;
    }
    const double src = double(d) * double(in - 1) / double(out - 1);
    i0 = std::min(int64_t(std::floor(src)), in - 1);
    i1 = std::min(i0 + 1, in - 1);
    l1 = src - double(i0);
  };
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        int64_t y0, y1, x0, x1;
        double ly, lx;
        source(oy, u.h, oh, y0, y1, ly);
        source(ox, u.w, ow, x0, x1, lx);
        const double* in = &x[size_t(p * u.h * u.w)];
        y[size_t((p * oh + oy) * ow + ox)] = (1 - ly) * ((1 - lx) * in[y0 * u.w + x0] + lx * in[y0 * u.w + x1]) +
                                             ly * ((1 - lx) * in[y1 * u.w + x0] + lx * in[y1 * u.w + x1]);
      }
  return y;
}

void upsample_bench(benchmark::State& state, bench::Target t, UpsampleCase u, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  Tensor x = bench::randn({t.batch, u.c, u.h, u.w}, 1, t.device);
  Tensor gy = bench::randn({t.batch, u.c, u.h * u.factor, u.w * u.factor}, 2, t.device);
  if (!bench::validated_once(state, str_cat("upsample/", t.name, "/", u.name), [&] {
        return bench::compare("y", bench::host(forward(u, x)), reference(u, bench::host(x), t.batch * u.c), 1e-5, 1e-5);
      }))
    return;
  const double bytes = double(x.numel() + gy.numel()) * 4;
  if (backward) {
    x.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return forward(u, x); }, gy, {x});
  } else {
    bench::time_forward(state, t.device, [&] { return forward(u, x); });
  }
  bench::set_gbytes(state, backward ? 2 * bytes : bytes);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const UpsampleCase& u : kCases)
      for (bool bwd : {false, true})
        bench::configure(benchmark::RegisterBenchmark(
            str_cat("upsample/", t.name, bwd ? "/fwd_bwd/" : "/fwd/", u.name).c_str(), upsample_bench, t, u, bwd));
  return true;
}();

}  // namespace
