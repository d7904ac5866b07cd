// CPU conv2d at the EfficientNet-B4 / FPN shapes of a 256x256 input, batch 2.
// Reports GFLOP/s with FLOPs = 2 * multiply-adds (backward: input + weight
// gradients, twice the forward's). Select with --benchmark_filter=conv2d.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "ops/conv2d.h"

namespace {

using sono::Conv2dOptions;
using sono::Tensor;

struct ConvShape {
  const char* name;
  int64_t cin, cout, hw, k, stride;
  int64_t pad_before, pad_after;  // same on both axes (TF-"same" static pads)
  bool depthwise;
  bool backward;  // also benchmark the backward pass
};

constexpr int64_t kBatch = 2;

const std::vector<ConvShape>& shapes() {
  static const std::vector<ConvShape> s = {
      {"stem_3x3s2_3to48_256", 3, 48, 256, 3, 2, 0, 1, false, true},
      {"expand_1x1_32to192_64", 32, 192, 64, 1, 1, 0, 0, false, true},
      {"expand_1x1_56to336_32", 56, 336, 32, 1, 1, 0, 0, false, false},
      {"expand_1x1_160to960_16", 160, 960, 16, 1, 1, 0, 0, false, true},
      {"project_1x1_192to32_64", 192, 32, 64, 1, 1, 0, 0, false, true},
      {"project_1x1_960to160_16", 960, 160, 16, 1, 1, 0, 0, false, false},
      {"fpn_3x3_256to128_64", 256, 128, 64, 3, 1, 1, 1, false, true},
      {"dw_3x3s1_48_128", 48, 48, 128, 3, 1, 1, 1, true, false},
      {"dw_3x3s1_192_64", 192, 192, 64, 3, 1, 1, 1, true, true},
      {"dw_5x5s1_336_32", 336, 336, 32, 5, 1, 2, 2, true, true},
      {"dw_5x5s1_960_16", 960, 960, 16, 5, 1, 2, 2, true, false},
      {"dw_5x5s1_1632_8", 1632, 1632, 8, 5, 1, 2, 2, true, true},
      {"dw_3x3s2_144_128", 144, 144, 128, 3, 2, 0, 1, true, true},
      {"dw_5x5s2_192_64", 192, 192, 64, 5, 2, 2, 2, true, false},
  };
  return s;
}

Tensor random_tensor(const sono::Shape& shape, uint64_t seed) {
  std::mt19937 rng{uint32_t(seed)};
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> v(size_t(sono::shape_numel(shape)));
  for (auto& e : v) e = dist(rng);
  return Tensor::from_vector(v, shape);
}

struct Problem {
  Tensor x, w;
  Conv2dOptions opt;
  double macs;
};

Problem make_problem(const ConvShape& s) {
  Problem p;
  p.opt.stride_h = p.opt.stride_w = s.stride;
  p.opt.pad_top = p.opt.pad_left = s.pad_before;
  p.opt.pad_bottom = p.opt.pad_right = s.pad_after;
  p.opt.groups = s.depthwise ? s.cin : 1;
  p.x = random_tensor({kBatch, s.cin, s.hw, s.hw}, 1);
  p.w = random_tensor({s.cout, s.cin / p.opt.groups, s.k, s.k}, 2);
  const int64_t out = (s.hw + s.pad_before + s.pad_after - s.k) / s.stride + 1;
  p.macs = double(kBatch) * s.cout * out * out * (s.cin / p.opt.groups) * s.k * s.k;
  return p;
}

void set_flops(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iter * 1e-9 * double(state.iterations()), benchmark::Counter::kIsRate);
}

void conv_forward(benchmark::State& state, const ConvShape& s) {
  sono::NoGradGuard ng;
  Problem p = make_problem(s);
  for (auto _ : state) {
    Tensor y = sono::conv2d(p.x, p.w, Tensor(), p.opt);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_flops(state, 2 * p.macs);
}

// The backend's backward directly (input and weight gradients), without the
// forward and the autograd engine around it.
void conv_backward(benchmark::State& state, const ConvShape& s) {
  Problem p = make_problem(s);
  Tensor y = sono::conv2d(p.x, p.w, Tensor(), p.opt);
  Tensor gy = random_tensor(y.shape(), 3);
  Tensor gx = Tensor::empty(p.x.shape()), gw = Tensor::empty(p.w.shape());
  for (auto _ : state) {
    sono::cpu::conv2d_backward(p.x, p.w, gy, gx, gw, Tensor(), p.opt);
    benchmark::DoNotOptimize(gx.raw_data());
    benchmark::DoNotOptimize(gw.raw_data());
  }
  set_flops(state, 4 * p.macs);
}

const bool registered = [] {
  for (const ConvShape& s : shapes()) {
    benchmark::RegisterBenchmark((std::string("conv2d_fwd/") + s.name).c_str(), conv_forward, s)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    if (s.backward)
      benchmark::RegisterBenchmark((std::string("conv2d_bwd/") + s.name).c_str(), conv_backward, s)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  }
  return true;
}();

}  // namespace
