// One AdamW update over tensors sized like the model's ~500 parameters (many
// small BN/bias vectors, larger conv weights):
//   adamw/<dev>/per_tensor  the backend's element update, one call per tensor
//   adamw/cuda/fused        every tensor in one kernel launch (what AdamW::step
//                           does on cuda)
//   adamw/<dev>/model_step  AdamW::step over every parameter of the multi-task
//                           model (SONO_BENCH_ENCODER, all 27 heads), each with a
//                           gradient: a training step's optimizer update (what
//                           tools/bench_compare.py sets beside torch.optim.AdamW
//                           over the official model's parameters)
// GB/s counts the minimum bytes: read p, g, m, v and write p, m, v.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "ops/binary.h"
#include "optim/adamw.h"
#include "tasks/dataset.h"
#include "train/benchmark.h"

namespace {

using namespace sono;

std::vector<int64_t> parameter_sizes() {
  std::vector<int64_t> sizes;
  for (int i = 0; i < 120; ++i) {
    const int64_t c = 48 + 16 * i;
    sizes.push_back(c);          // BN weight
    sizes.push_back(c);          // BN bias
    sizes.push_back(c * c / 8);  // a 1x1 conv
    sizes.push_back(c * 25);     // a depthwise 5x5
  }
  sizes.push_back(256 * 128 * 9);
  return sizes;
}

struct Param {
  Tensor p, g, m, v;
};

void adamw_bench(benchmark::State& state, bench::Target t, bool fused) {
  if (bench::skip_unavailable(state, t.device)) return;
  std::vector<Param> params;
  double elements = 0;
  uint64_t seed = 1;
  for (int64_t n : parameter_sizes()) {
    params.push_back({bench::randn({n}, seed, t.device), bench::randn({n}, seed + 1, t.device, 0.01),
                      bench::randn({n}, seed + 2, t.device, 0.001), bench::randn({n}, seed + 3, t.device, 1e-4)});
    params.back().v = mul(params.back().v, params.back().v);  // second moments are >= 0
    seed += 4;
    elements += double(n);
  }
  const double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, wd = 0.01;
  const int64_t step = 7;
  std::function<void()> body = [&] {
    for (const Param& q : params) {
      if (t.device.is_cpu()) cpu::adamw_step(q.p, q.g, q.m, q.v, lr, beta1, beta2, eps, wd, step);
#if SONO_WITH_CUDA
      else cuda::adamw_step(q.p, q.g, q.m, q.v, lr, beta1, beta2, eps, wd, step);
#endif
    }
  };
#if SONO_WITH_CUDA
  std::vector<AdamWItem> items;
  for (const Param& q : params) items.push_back({q.p, q.g, q.m, q.v, lr, beta1, beta2, eps, wd, step});
  if (fused) body = [&] { cuda::adamw_step_multi(items); };
#else
  (void)fused;
#endif
  body();
  bench::synchronize(t.device);
  bench::timed_loop(state, t.device, body);
  bench::set_gbytes(state, 7 * 4 * elements);
}

// The first step from zero moments in closed form (m = (1 - beta1) g,
// v = (1 - beta2) g^2, bias-corrected to g and g^2), in double:
// p' = p (1 - lr wd) - lr g / (|g| + eps).
std::string check_first_step(const std::vector<double>& p0, const Tensor& g, const Tensor& p1,
                             const ParamGroup& group) {
  const auto gv = bench::host(g);
  std::vector<double> want(p0.size());
  for (size_t i = 0; i < p0.size(); ++i)
    want[i] = p0[i] * (1 - group.lr * group.weight_decay) - group.lr * gv[i] / (std::abs(gv[i]) + group.eps);
  return bench::compare("p after step 1", bench::host(p1), want, 1e-5, 1e-7);
}

void model_step_bench(benchmark::State& state, bench::Target t) {
  if (bench::skip_unavailable(state, t.device)) return;
  static std::unique_ptr<model::MultiTaskModel> models[2];  // per device kind, built at first use
  auto& m = models[t.device.is_cuda() ? 1 : 0];
  if (!m) {
    model::MultiTaskModelConfig cfg = tasks::model_config();
    cfg.encoder = bench::env_string("SONO_BENCH_ENCODER", "efficientnet-b4");
    m = std::make_unique<model::MultiTaskModel>(cfg);
    m->to(t.device);
    uint64_t seed = 11;
    for (const Tensor& p : m->parameters()) p.set_grad(bench::randn(p.shape(), seed++, t.device, 0.01));
  }
  AdamW opt = benchmark_optimizer(*m);  // fresh moments: its first step is checked below
  const std::vector<Tensor> params = m->parameters();
  double elements = 0;
  for (const Tensor& p : params) elements += double(p.numel());
  // The first and the last parameter, checked after the first step of this optimizer.
  const std::vector<double> first = bench::host(params.front()), last = bench::host(params.back());
  opt.step();
  bench::synchronize(t.device);
  const ParamGroup& group = opt.groups().front();
  std::string error = check_first_step(first, params.front().grad(), params.front(), group);
  if (error.empty()) error = check_first_step(last, params.back().grad(), params.back(), group);
  if (!bench::report_validation(state, error)) return;
  bench::timed_loop(state, t.device, [&] { opt.step(); });
  bench::set_gbytes(state, 7 * 4 * elements);
  state.counters["parameters"] = double(params.size());
  state.counters["elements"] = elements;
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets()) {
    bench::configure(
        benchmark::RegisterBenchmark(str_cat("adamw/", t.name, "/per_tensor").c_str(), adamw_bench, t, false));
    bench::configure(
        benchmark::RegisterBenchmark(str_cat("adamw/", t.name, "/model_step").c_str(), model_step_bench, t));
    if (t.device.is_cuda()) bench::configure(benchmark::RegisterBenchmark("adamw/cuda/fused", adamw_bench, t, true));
  }
  return true;
}();

}  // namespace
