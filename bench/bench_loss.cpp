// The segmentation and classification losses at the model's output shapes
// (batch: SONO_BENCH_BATCH on the cpu, SONO_BENCH_CUDA_BATCH on cuda):
//   loss/<dev>/<fwd|fwd_bwd>/dice_4x256x256  Dice of cardiac_multi's logits [N, 4, 256, 256]
//   loss/<dev>/<fwd|fwd_bwd>/ce_6            cross-entropy of organ_cls's logits [N, 6]
// GB/s counts the minimum bytes: forward reads logits and the i64 target;
// backward reads them again and writes d logits. (ce is launch-bound: its
// bytes are tiny.) Checked once against double-precision formulas.
#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/loss.h"

namespace {

using namespace sono;

constexpr int64_t kDiceClasses = 4, kDiceSide = 256, kCeClasses = 6;

// docs/reference-model.md 5.1 in closed form: mean over classes of (1 - 2 sum(p t) /
// (sum p + sum t)), zero for classes absent from the batch's target.
double dice_reference(const std::vector<double>& z, const std::vector<double>& target, int64_t n, int64_t c,
                      int64_t pixels) {
  const size_t nc = static_cast<size_t>(c);
  std::vector<double> inter(nc), sp(nc), st(nc), p(nc);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < pixels; ++i) {
      double mx = -INFINITY, sum = 0;
      for (int64_t k = 0; k < c; ++k) mx = std::max(mx, z[size_t((b * c + k) * pixels + i)]);
      for (int64_t k = 0; k < c; ++k) sum += p[size_t(k)] = std::exp(z[size_t((b * c + k) * pixels + i)] - mx);
      const int64_t t = int64_t(target[size_t(b * pixels + i)]);
      for (int64_t k = 0; k < c; ++k) {
        sp[size_t(k)] += p[size_t(k)] / sum;
        if (k == t) {
          st[size_t(k)] += 1;
          inter[size_t(k)] += p[size_t(k)] / sum;
        }
      }
    }
  double loss = 0;
  for (int64_t k = 0; k < c; ++k)
    if (st[size_t(k)] > 0) loss += 1 - 2 * inter[size_t(k)] / (sp[size_t(k)] + st[size_t(k)]);
  return loss / double(c);
}

double ce_reference(const std::vector<double>& z, const std::vector<double>& target, int64_t n, int64_t c) {
  double loss = 0;
  for (int64_t b = 0; b < n; ++b) {
    double mx = -INFINITY, sum = 0;
    for (int64_t k = 0; k < c; ++k) mx = std::max(mx, z[size_t(b * c + k)]);
    for (int64_t k = 0; k < c; ++k) sum += std::exp(z[size_t(b * c + k)] - mx);
    loss += std::log(sum) + mx - z[size_t(b * c + int64_t(target[size_t(b)]))];
  }
  return loss / double(n);
}

void loss_bench(benchmark::State& state, bench::Target t, bool dice, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  const int64_t n = t.batch;
  Tensor logits = dice ? bench::randn({n, kDiceClasses, kDiceSide, kDiceSide}, 1, t.device, 2.0)
                       : bench::randn({n, kCeClasses}, 1, t.device, 2.0);
  Tensor target = dice ? bench::randint({n, kDiceSide, kDiceSide}, kDiceClasses, 2, t.device)
                       : bench::randint({n}, kCeClasses, 2, t.device);
  auto fwd = [&] { return dice ? dice_loss(logits, target) : cross_entropy(logits, target); };
  if (!bench::validated_once(state, str_cat("loss/", t.name, dice ? "/dice" : "/ce"), [&] {
        const auto z = bench::host(logits), y = bench::host(target);
        const double want =
            dice ? dice_reference(z, y, n, kDiceClasses, kDiceSide * kDiceSide) : ce_reference(z, y, n, kCeClasses);
        return bench::compare("loss", bench::host(fwd()), {want}, 1e-4, 1e-6);
      }))
    return;
  const double bytes = double(logits.numel()) * 4 + double(target.numel()) * 8;
  if (backward) {
    logits.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, fwd, Tensor(), {logits});
  } else {
    bench::time_forward(state, t.device, fwd);
  }
  bench::set_gbytes(state, backward ? 2 * bytes + double(logits.numel()) * 4 : bytes);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (bool dice : {true, false})
      for (bool bwd : {false, true})
        bench::configure(benchmark::RegisterBenchmark(
            str_cat("loss/", t.name, bwd ? "/fwd_bwd/" : "/fwd/", dice ? "dice_4x256x256" : "ce_6").c_str(), loss_bench,
            t, dice, bwd));
  return true;
}();

}  // namespace
