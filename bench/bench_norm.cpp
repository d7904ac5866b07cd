// batch_norm and group_norm at the model's shapes (batch: SONO_BENCH_BATCH on
// the cpu, SONO_BENCH_CUDA_BATCH on cuda), through the public ops and the
// autograd engine as the model runs them:
//   batch_norm/<dev>/train_fwd_bwd/<CxHxW>  train-mode forward (batch stats,
//       running-stat update) + backward to x, weight and bias
//   batch_norm/<dev>/eval_fwd/<CxHxW>       eval forward (running stats)
//   group_norm/<dev>/fwd/<CxHxW>            32 groups, no grad
//   group_norm/<dev>/fwd_bwd/<CxHxW>        forward + backward to x, weight, bias
// GB/s counts the minimum bytes: a forward reads x and writes y; a backward
// reads x and dy and writes dx (per-channel vectors ignored).
// Checked once against double-precision loops before timing (y and dx).
#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_norm_inputs.h"
#include "core/autograd.h"
#include "ops/norm.h"

namespace {

using namespace sono;

using bench::kBnShapes;
using bench::NormShape;
using Inputs = bench::NormInputs;

// GN: the FPN segmentation blocks (128 channels) at 64x64 and 32x32.
const NormShape kGnShapes[] = {{"128x64x64", 128, 64, 64}, {"128x32x32", 128, 32, 32}};
constexpr int64_t kGroups = 32;
constexpr double kBnEps = 1e-3, kBnMomentum = 0.01, kGnEps = 1e-5;

struct Reference {
  std::vector<double> y, gx;
};

// Forward and input gradient of a normalisation whose statistics are taken
// over the element sets members(0 .. stat_groups-1) of the NCHW tensor (batch
// norm: one set per channel; group norm: one per sample and group), with
// per-channel affine parameters; biased variance, as both ops use.
template <class Members>
Reference normalize_reference(const Inputs& in, const NormShape& s, int64_t stat_groups, double eps, Members members) {
  const auto x = bench::host(in.x), w = bench::host(in.w), b = bench::host(in.b), gy = bench::host(in.gy);
  const int64_t hw = s.h * s.w;
  Reference r;
  r.y.resize(x.size());
  r.gx.resize(x.size());
  for (int64_t g = 0; g < stat_groups; ++g) {
    std::vector<int64_t> idx = members(g);
    double mean = 0, var = 0;
    for (int64_t i : idx) mean += x[size_t(i)];
    mean /= double(idx.size());
    for (int64_t i : idx) var += (x[size_t(i)] - mean) * (x[size_t(i)] - mean);
    var /= double(idx.size());
    const double invstd = 1 / std::sqrt(var + eps);
    double mean_g = 0, mean_gx = 0;  // means of dxhat and dxhat * xhat
    for (int64_t i : idx) {
      const int64_t c = (i / hw) % s.c;
      const double xhat = (x[size_t(i)] - mean) * invstd, dxhat = gy[size_t(i)] * w[size_t(c)];
      r.y[size_t(i)] = xhat * w[size_t(c)] + b[size_t(c)];
      mean_g += dxhat;
      mean_gx += dxhat * xhat;
    }
    mean_g /= double(idx.size());
    mean_gx /= double(idx.size());
    for (int64_t i : idx) {
      const int64_t c = (i / hw) % s.c;
      const double xhat = (x[size_t(i)] - mean) * invstd;
      r.gx[size_t(i)] = invstd * (gy[size_t(i)] * w[size_t(c)] - mean_g - xhat * mean_gx);
    }
  }
  return r;
}

Reference batch_norm_reference(const Inputs& in, int64_t n, const NormShape& s) {
  const int64_t hw = s.h * s.w;
  return normalize_reference(in, s, s.c, kBnEps, [&](int64_t c) {
    std::vector<int64_t> idx;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t p = 0; p < hw; ++p) idx.push_back((i * s.c + c) * hw + p);
    return idx;
  });
}

Reference group_norm_reference(const Inputs& in, int64_t n, const NormShape& s) {
  const int64_t span = s.c / kGroups * s.h * s.w;
  return normalize_reference(in, s, n * kGroups, kGnEps, [&](int64_t g) {
    std::vector<int64_t> idx(static_cast<size_t>(span));
    for (int64_t k = 0; k < span; ++k) idx[size_t(k)] = g * span + k;
    return idx;
  });
}

// Runs forward and backward once and compares y and dx with the reference.
template <class Forward>
std::string check(const Inputs& in, const Reference& ref, Forward forward) {
  Tensor x = in.x.detach().set_requires_grad(true);
  Tensor y = forward(x);
  std::string err = bench::compare("y", bench::host(y), ref.y, 1e-4, 1e-4);
  if (err.empty()) {
    y.backward(in.gy);
    err = bench::compare("dx", bench::host(x.grad()), ref.gx, 1e-3, 1e-3);
  }
  return err;
}

double tensor_bytes(const Tensor& t) { return double(t.numel()) * 4; }

void batch_norm_train(benchmark::State& state, bench::Target t, NormShape s) {
  if (bench::skip_unavailable(state, t.device)) return;
  Inputs in = bench::make_norm_inputs(t.device, t.batch, s);
  auto fwd = [&](const Tensor& x) {
    return batch_norm(x, in.w, in.b, in.running_mean, in.running_var, true, kBnMomentum, kBnEps);
  };
  if (!bench::validated_once(state, str_cat("bn_train/", t.name, "/", s.name),
                             [&] { return check(in, batch_norm_reference(in, t.batch, s), fwd); }))
    return;
  Tensor x = in.x.detach().set_requires_grad(true);
  in.w.set_requires_grad(true);
  in.b.set_requires_grad(true);
  bench::time_forward_backward(state, t.device, [&] { return fwd(x); }, in.gy, {x, in.w, in.b});
  bench::set_gbytes(state, 5 * tensor_bytes(in.x));
}

void batch_norm_eval(benchmark::State& state, bench::Target t, NormShape s) {
  if (bench::skip_unavailable(state, t.device)) return;
  Inputs in = bench::make_norm_inputs(t.device, t.batch, s);
  auto fwd = [&] { return batch_norm(in.x, in.w, in.b, in.running_mean, in.running_var, false, kBnMomentum, kBnEps); };
  if (!bench::validated_once(state, str_cat("bn_eval/", t.name, "/", s.name), [&] {
        // running mean 0, running var 1: y = x / sqrt(1 + eps) * w + b
        const auto x = bench::host(in.x), w = bench::host(in.w), b = bench::host(in.b);
        std::vector<double> want(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
          const size_t c = size_t(int64_t(i) / (s.h * s.w) % s.c);
          want[i] = x[i] / std::sqrt(1 + kBnEps) * w[c] + b[c];
        }
        return bench::compare("y", bench::host(fwd()), want, 1e-5, 1e-5);
      }))
    return;
  bench::time_forward(state, t.device, fwd);
  bench::set_gbytes(state, 2 * tensor_bytes(in.x));
}

void group_norm_bench(benchmark::State& state, bench::Target t, NormShape s, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  Inputs in = bench::make_norm_inputs(t.device, t.batch, s);
  auto fwd = [&](const Tensor& x) { return group_norm(x, kGroups, in.w, in.b, kGnEps); };
  if (!bench::validated_once(state, str_cat("gn/", t.name, "/", s.name),
                             [&] { return check(in, group_norm_reference(in, t.batch, s), fwd); }))
    return;
  if (backward) {
    Tensor x = in.x.detach().set_requires_grad(true);
    in.w.set_requires_grad(true);
    in.b.set_requires_grad(true);
    bench::time_forward_backward(state, t.device, [&] { return fwd(x); }, in.gy, {x, in.w, in.b});
  } else {
    bench::time_forward(state, t.device, [&] { return fwd(in.x); });
  }
  bench::set_gbytes(state, (backward ? 5 : 2) * tensor_bytes(in.x));
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets()) {
    for (const NormShape& s : kBnShapes) {
      bench::configure(benchmark::RegisterBenchmark(str_cat("batch_norm/", t.name, "/train_fwd_bwd/", s.name).c_str(),
                                                    batch_norm_train, t, s));
      bench::configure(benchmark::RegisterBenchmark(str_cat("batch_norm/", t.name, "/eval_fwd/", s.name).c_str(),
                                                    batch_norm_eval, t, s));
    }
    for (const NormShape& s : kGnShapes) {
      bench::configure(benchmark::RegisterBenchmark(str_cat("group_norm/", t.name, "/fwd/", s.name).c_str(),
                                                    group_norm_bench, t, s, false));
      bench::configure(benchmark::RegisterBenchmark(str_cat("group_norm/", t.name, "/fwd_bwd/", s.name).c_str(),
                                                    group_norm_bench, t, s, true));
    }
  }
  return true;
}();

}  // namespace
