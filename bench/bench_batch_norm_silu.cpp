// ops/batch_norm_silu against the unfused silu(batch_norm(x)) it replaces, at
// the model's BN + SiLU shapes (batch: SONO_BENCH_BATCH on the cpu,
// SONO_BENCH_CUDA_BATCH on cuda), through the public ops and the autograd
// engine as the model runs them:
//   batch_norm_silu/<dev>/<fused|unfused>/train_fwd_bwd/<CxHxW>  train-mode
//       forward (batch statistics, running-stat update) + backward to x,
//       weight and bias
//   batch_norm_silu/<dev>/<fused|unfused>/eval_fwd/<CxHxW>       eval forward
// GB/s counts the fused op's minimum bytes (a forward reads x twice, for the
// statistics and the output, and writes y; a backward reads x and dy twice
// and writes dx twice), for both variants, so the rates compare directly.
// Each variant is checked once against the other before timing.
#include <string>

#include "bench/bench_norm_inputs.h"
#include "core/autograd.h"
#include "ops/activation.h"
#include "ops/batch_norm_silu.h"
#include "ops/norm.h"

namespace {

using namespace sono;

using BnShape = bench::NormShape;
using Inputs = bench::NormInputs;
constexpr double kEps = 1e-3, kMomentum = 0.01;

Tensor run(const Inputs& in, const Tensor& x, bool fused, bool training) {
  if (fused) return batch_norm_silu(x, in.w, in.b, in.running_mean, in.running_var, training, kMomentum, kEps);
  return silu(batch_norm(x, in.w, in.b, in.running_mean, in.running_var, training, kMomentum, kEps));
}

// y and dx of this variant against the other one.
std::string check(const Inputs& in, bool fused, bool training) {
  std::vector<double> y[2], gx[2];
  for (int v = 0; v < 2; ++v) {
    Tensor x = in.x.detach().set_requires_grad(true);
    Tensor out = run(in, x, v == 1 ? fused : !fused, training);
    out.backward(in.gy);
    y[v] = bench::host(out);
    gx[v] = bench::host(x.grad());
  }
  std::string err = bench::compare("y", y[0], y[1], 1e-5, 1e-5);
  return err.empty() ? bench::compare("dx", gx[0], gx[1], 1e-4, 1e-4) : err;
}

void bench_train(benchmark::State& state, bench::Target t, BnShape s, bool fused) {
  if (bench::skip_unavailable(state, t.device)) return;
  Inputs in = bench::make_norm_inputs(t.device, t.batch, s);
  const char* variant = fused ? "fused" : "unfused";
  if (!bench::validated_once(state, str_cat("bn_silu_train/", t.name, "/", variant, "/", s.name),
                             [&] { return check(in, fused, true); }))
    return;
  Tensor x = in.x.detach().set_requires_grad(true);
  in.w.set_requires_grad(true);
  in.b.set_requires_grad(true);
  bench::time_forward_backward(state, t.device, [&] { return run(in, x, fused, true); }, in.gy, {x, in.w, in.b});
  bench::set_gbytes(state, 7 * double(in.x.numel()) * 4);
}

void bench_eval(benchmark::State& state, bench::Target t, BnShape s, bool fused) {
  if (bench::skip_unavailable(state, t.device)) return;
  Inputs in = bench::make_norm_inputs(t.device, t.batch, s);
  const char* variant = fused ? "fused" : "unfused";
  if (!bench::validated_once(state, str_cat("bn_silu_eval/", t.name, "/", variant, "/", s.name),
                             [&] { return check(in, fused, false); }))
    return;
  bench::time_forward(state, t.device, [&] { return run(in, in.x, fused, false); });
  bench::set_gbytes(state, 2 * double(in.x.numel()) * 4);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const BnShape& s : bench::kBnShapes)
      for (bool fused : {true, false}) {
        const char* v = fused ? "/fused" : "/unfused";
        bench::configure(benchmark::RegisterBenchmark(
            str_cat("batch_norm_silu/", t.name, v, "/train_fwd_bwd/", s.name).c_str(), bench_train, t, s, fused));
        bench::configure(benchmark::RegisterBenchmark(
            str_cat("batch_norm_silu/", t.name, v, "/eval_fwd/", s.name).c_str(), bench_eval, t, s, fused));
      }
  return true;
}();

}  // namespace
