// CUDA op benchmarks at the model's shapes (batch 16, 256x256 input), each
// iteration synchronized so the time covers the kernels. Names start with
// "cuda/" (tools/gpu_check.sh runs --benchmark_filter=cuda).
//   cuda/conv_fwd|conv_bwd/<shape>/<path>: the public dispatch ("auto") next to
//     the alternatives it decides between: cuDNN for depthwise convs, and a
//     per-sample cuBLAS GEMM for 1x1 convs (to decide whether 1x1 convs
//     should leave cuDNN).
//   cuda/adamw/{per_tensor,fused}: one optimizer step over the model's ~500
//     parameter tensors.
// Without a CUDA device every benchmark reports "no CUDA device".
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "ops/conv2d.h"
#include "ops/cuda/conv2d_paths.h"
#include "ops/cuda/gemm.h"
#include "optim/adamw.h"

namespace {

using sono::Conv2dOptions;
using sono::Device;
using sono::DType;
using sono::Tensor;

constexpr int64_t kBatch = 16;
const Device kGpu = Device::cuda(0);

bool skip_without_device(benchmark::State& state) {
  if (sono::cuda::device_count() > 0) return false;
  state.SkipWithError("no CUDA device");
  return true;
}

Tensor gpu_randn(const sono::Shape& shape, double scale = 1.0) {
  Tensor t = Tensor::empty(shape, DType::F32, kGpu);
  t.fill_(0.5 * scale);  // values do not change the timings of these kernels
  return t;
}

struct ConvShape {
  const char* name;
  int64_t cin, cout, hw, k, stride, pad_before, pad_after;
  bool depthwise;
};

const std::vector<ConvShape>& shapes() {
  static const std::vector<ConvShape> s = {
      {"stem_3x3s2_3to48_256", 3, 48, 256, 3, 2, 0, 1, false},
      {"expand_1x1_32to192_64", 32, 192, 64, 1, 1, 0, 0, false},
      {"project_1x1_192to32_64", 192, 32, 64, 1, 1, 0, 0, false},
      {"expand_1x1_160to960_16", 160, 960, 16, 1, 1, 0, 0, false},
      {"fpn_3x3_256to128_64", 256, 128, 64, 3, 1, 1, 1, false},
      {"dw_3x3s1_48_128", 48, 48, 128, 3, 1, 1, 1, true},
      {"dw_3x3s2_144_128", 144, 144, 128, 3, 2, 0, 1, true},
      {"dw_3x3s1_192_64", 192, 192, 64, 3, 1, 1, 1, true},
      {"dw_5x5s1_336_32", 336, 336, 32, 5, 1, 2, 2, true},
      {"dw_5x5s2_960_16", 960, 960, 16, 5, 2, 1, 2, true},
      {"dw_5x5s1_1632_8", 1632, 1632, 8, 5, 1, 2, 2, true},
  };
  return s;
}

enum class Path { Auto, Cudnn, Gemm1x1 };

struct Problem {
  Tensor x, w, y, gy, gx, gw;
  Conv2dOptions opt;
  sono::cuda::conv::Geometry g;
  double macs;
};

Problem make_problem(const ConvShape& s) {
  Problem p;
  p.opt.stride_h = p.opt.stride_w = s.stride;
  p.opt.pad_top = p.opt.pad_left = s.pad_before;
  p.opt.pad_bottom = p.opt.pad_right = s.pad_after;
  p.opt.groups = s.depthwise ? s.cin : 1;
  const int64_t out = (s.hw + s.pad_before + s.pad_after - s.k) / s.stride + 1;
  p.x = gpu_randn({kBatch, s.cin, s.hw, s.hw});
  p.w = gpu_randn({s.cout, s.cin / p.opt.groups, s.k, s.k}, 0.1);
  p.y = gpu_randn({kBatch, s.cout, out, out});
  p.gy = gpu_randn(p.y.shape());
  p.gx = gpu_randn(p.x.shape());
  p.gw = gpu_randn(p.w.shape());
  p.g = sono::cuda::conv::geometry(p.x, p.w, p.y.shape(), p.opt);
  p.macs = double(kBatch) * s.cout * out * out * (s.cin / p.opt.groups) * s.k * s.k;
  return p;
}

// 1x1 stride-1 conv as one GEMM per sample: y[n] [Cout, HW] = W [Cout, Cin] x[n] [Cin, HW].
void gemm_1x1_forward(const Problem& p) {
  const int64_t hw = p.g.h * p.g.w;
  for (int64_t n = 0; n < p.g.n; ++n)
    sono::cuda::gemm<float>(0, false, false, p.g.cout, hw, p.g.cin, 1.f, p.w.data<float>(), p.g.cin,
                            p.x.data<float>() + n * p.g.cin * hw, hw, 0.f, p.y.data<float>() + n * p.g.cout * hw,
                            hw);
}

// gx[n] = W^T gy[n]; gW = sum_n gy[n] x[n]^T (accumulated with beta = 1).
void gemm_1x1_backward(const Problem& p) {
  const int64_t hw = p.g.h * p.g.w;
  for (int64_t n = 0; n < p.g.n; ++n) {
    const float* gy = p.gy.data<float>() + n * p.g.cout * hw;
    sono::cuda::gemm<float>(0, true, false, p.g.cin, hw, p.g.cout, 1.f, p.w.data<float>(), p.g.cin, gy, hw, 0.f,
                            p.gx.data<float>() + n * p.g.cin * hw, hw);
    sono::cuda::gemm<float>(0, false, true, p.g.cout, p.g.cin, hw, 1.f, gy, hw, p.x.data<float>() + n * p.g.cin * hw,
                            hw, n == 0 ? 0.f : 1.f, p.gw.data<float>(), p.g.cin);
  }
}

void run_forward(const Problem& p, Path path) {
  if (path == Path::Cudnn) sono::cuda::conv::cudnn_forward(p.g, p.x, p.w, Tensor(), p.y);
  else if (path == Path::Gemm1x1) gemm_1x1_forward(p);
  else sono::cuda::conv2d_forward(p.x, p.w, Tensor(), p.y, p.opt);
}

void run_backward(const Problem& p, Path path) {
  if (path == Path::Cudnn) sono::cuda::conv::cudnn_backward(p.g, p.x, p.w, p.gy, p.gx, p.gw);
  else if (path == Path::Gemm1x1) gemm_1x1_backward(p);
  else sono::cuda::conv2d_backward(p.x, p.w, p.gy, p.gx, p.gw, Tensor(), p.opt);
}

void conv_bench(benchmark::State& state, ConvShape s, Path path, bool backward) {
  if (skip_without_device(state)) return;
  Problem p = make_problem(s);
  auto once = [&] { backward ? run_backward(p, path) : run_forward(p, path); };
  once();  // algorithm choice, workspace growth
  sono::cuda::synchronize(0);
  for (auto _ : state) {
    once();
    sono::cuda::synchronize(0);
  }
  const double flops = (backward ? 4 : 2) * p.macs;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9 * double(state.iterations()), benchmark::Counter::kIsRate);
}

// The model's parameter tensor sizes, roughly: many small vectors (BN, bias)
// and larger matrices, ~500 tensors.
std::vector<int64_t> parameter_sizes() {
  std::vector<int64_t> sizes;
  for (int i = 0; i < 120; ++i) {
    const int64_t c = 48 + 16 * i;
    sizes.push_back(c);           // BN weight
    sizes.push_back(c);           // BN bias
    sizes.push_back(c * c / 8);   // a 1x1 conv
    sizes.push_back(c * 25);      // a depthwise 5x5
  }
  sizes.push_back(256 * 128 * 9);
  return sizes;
}

void adamw_bench(benchmark::State& state, bool fused) {
  if (skip_without_device(state)) return;
  std::vector<sono::AdamWItem> items;
  for (int64_t n : parameter_sizes())
    items.push_back({gpu_randn({n}), gpu_randn({n}, 0.01), gpu_randn({n}, 0.001), gpu_randn({n}, 1e-4), 1e-3, 0.9,
                     0.999, 1e-8, 0.01, 7});
  auto once = [&] {
    if (fused) return sono::cuda::adamw_step_multi(items);
    for (const auto& it : items)
      sono::cuda::adamw_step(it.p, it.g, it.m, it.v, it.lr, it.beta1, it.beta2, it.eps, it.weight_decay, it.step);
  };
  once();
  sono::cuda::synchronize(0);
  for (auto _ : state) {
    once();
    sono::cuda::synchronize(0);
  }
}

const bool registered = [] {
  for (const ConvShape& s : shapes()) {
    const bool pointwise = s.k == 1 && s.stride == 1 && !s.depthwise;
    for (bool backward : {false, true}) {
      const std::string base = std::string("cuda/") + (backward ? "conv_bwd/" : "conv_fwd/") + s.name;
      std::vector<std::pair<const char*, Path>> paths = {{"auto", Path::Auto}};
      if (s.depthwise) paths.push_back({"cudnn", Path::Cudnn});
      if (pointwise) paths.push_back({"gemm", Path::Gemm1x1});
      for (const auto& [label, path] : paths)
        benchmark::RegisterBenchmark((base + "/" + label).c_str(), conv_bench, s, path, backward)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
  }
  for (bool fused : {false, true})
    benchmark::RegisterBenchmark(fused ? "cuda/adamw/fused" : "cuda/adamw/per_tensor", adamw_bench, fused)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  return true;
}();

}  // namespace
