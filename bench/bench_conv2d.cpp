// conv2d at the EfficientNet-B4 / FPN shapes of a 256x256 input (batch:
// SONO_BENCH_BATCH on the cpu, SONO_BENCH_CUDA_BATCH on cuda), one shape list
// for both devices:
//   conv2d_fwd/<dev>/<shape>[/<path>]  the forward under no-grad
//   conv2d_bwd/<dev>/<shape>[/<path>]  the backend's backward alone (input and
//       weight gradients), without the forward and the autograd engine
// On cuda, <path> is "auto" (the public dispatch) and, to decide between
// them, the alternatives it picks from: "cudnn" for depthwise convs, and
// "gemm" (one cuBLAS GEMM per sample) for 1x1 stride-1 convs.
// On the cpu, the alternatives of the dense 3x3 stride-1 shapes are
// conv2d_path_{fwd,bwd}/cpu/<shape>/{gemm,winograd} (a family of their own,
// as tools/bench_compare.py takes the one benchmark that starts with
// conv2d_fwd/cpu/<shape>/): im2col + GEMM, and Winograd F(4x4, 3x3); those of
// the strided depthwise input gradient conv2d_path_bwd/cpu/<shape>/{scatter,gather}.
// GFLOP/s with FLOPs = 2 * multiply-adds (backward: twice the forward's).
// The forward is checked once against a double-precision loop (sample 0,
// the first output channels) before timing.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "core/autograd.h"
#include "core/backend.h"
#include "ops/conv2d.h"
#include "ops/cpu/conv2d_paths.h"

#if SONO_WITH_CUDA
#include "ops/cuda/conv2d_paths.h"
#include "ops/cuda/gemm.h"
#endif

namespace {

using namespace sono;

struct ConvShape {
  const char* name;
  int64_t cin, cout, hw, k, stride;
  int64_t pad_before, pad_after;  // same on both axes (TF-"same" static pads, docs/reference-model.md 2.4)
  bool depthwise;
  bool cpu_backward;  // the CPU also times the backward (the slow ones are left out)
};

const std::vector<ConvShape>& shapes() {
  static const std::vector<ConvShape> s = {
      {"stem_3x3s2_3to48_256", 3, 48, 256, 3, 2, 0, 1, false, true},
      {"expand_1x1_32to192_64", 32, 192, 64, 1, 1, 0, 0, false, true},
      {"expand_1x1_56to336_32", 56, 336, 32, 1, 1, 0, 0, false, false},
      {"expand_1x1_160to960_16", 160, 960, 16, 1, 1, 0, 0, false, true},
      {"project_1x1_192to32_64", 192, 32, 64, 1, 1, 0, 0, false, true},
      {"project_1x1_960to160_16", 960, 160, 16, 1, 1, 0, 0, false, false},
      {"fpn_3x3_256to128_64", 256, 128, 64, 3, 1, 1, 1, false, true},
      {"fpn_3x3_256to128_32", 256, 128, 32, 3, 1, 1, 1, false, true},
      {"fpn_3x3_256to128_16", 256, 128, 16, 3, 1, 1, 1, false, true},
      {"fpn_3x3_256to128_8", 256, 128, 8, 3, 1, 1, 1, false, true},
      {"seg_3x3_128to128_64", 128, 128, 64, 3, 1, 1, 1, false, true},
      {"seg_3x3_128to128_32", 128, 128, 32, 3, 1, 1, 1, false, true},
      {"seg_3x3_128to128_16", 128, 128, 16, 3, 1, 1, 1, false, true},
      {"dw_3x3s1_48_128", 48, 48, 128, 3, 1, 1, 1, true, false},
      {"dw_3x3s1_192_64", 192, 192, 64, 3, 1, 1, 1, true, true},
      {"dw_5x5s1_336_32", 336, 336, 32, 5, 1, 2, 2, true, true},
      {"dw_5x5s1_960_16", 960, 960, 16, 5, 1, 2, 2, true, false},
      {"dw_5x5s1_1632_8", 1632, 1632, 8, 5, 1, 2, 2, true, true},
      {"dw_3x3s2_144_128", 144, 144, 128, 3, 2, 0, 1, true, true},
      {"dw_5x5s2_192_64", 192, 192, 64, 5, 2, 2, 2, true, true},
      {"dw_5x5s2_960_16", 960, 960, 16, 5, 2, 1, 2, true, true},
  };
  return s;
}

enum class Path { Auto, Cudnn, Gemm1x1, CpuGemm, CpuWinograd, CpuScatter, CpuGather };

struct Problem {
  Tensor x, w, gy, gx, gw;
  Conv2dOptions opt;
  Shape out;
  double macs;
};

Problem make_problem(const ConvShape& s, const bench::Target& t) {
  Problem p;
  p.opt.stride_h = p.opt.stride_w = s.stride;
  p.opt.pad_top = p.opt.pad_left = s.pad_before;
  p.opt.pad_bottom = p.opt.pad_right = s.pad_after;
  p.opt.groups = s.depthwise ? s.cin : 1;
  const int64_t out = (s.hw + s.pad_before + s.pad_after - s.k) / s.stride + 1;
  p.out = {t.batch, s.cout, out, out};
  p.x = bench::randn({t.batch, s.cin, s.hw, s.hw}, 1, t.device);
  p.w = bench::randn({s.cout, s.cin / p.opt.groups, s.k, s.k}, 2, t.device, 0.1);
  p.gy = bench::randn(p.out, 3, t.device);
  p.gx = Tensor::empty(p.x.shape(), DType::F32, t.device);
  p.gw = Tensor::empty(p.w.shape(), DType::F32, t.device);
  p.macs = double(t.batch) * s.cout * out * out * (s.cin / p.opt.groups) * s.k * s.k;
  return p;
}

// The first output channels of sample 0 by the definition, in double.
std::string check_forward(const ConvShape& s, const Problem& p, const Tensor& y) {
  const int64_t ho = p.out[2], wo = p.out[3], cg = s.cin / p.opt.groups, og = s.cout / p.opt.groups;
  const int64_t channels = std::min<int64_t>(s.cout, 4);
  const auto x = bench::host(p.x.slice(0, 0, 1)), w = bench::host(p.w);
  const auto got = bench::host(y.slice(0, 0, 1).slice(1, 0, channels));
  std::vector<double> want(got.size());
  for (int64_t co = 0; co < channels; ++co)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        double acc = 0;
        const int64_t g = co / og;
        for (int64_t ci = 0; ci < cg; ++ci)
          for (int64_t ky = 0; ky < s.k; ++ky)
            for (int64_t kx = 0; kx < s.k; ++kx) {
              const int64_t iy = oy * s.stride + ky - s.pad_before, ix = ox * s.stride + kx - s.pad_before;
              if (iy < 0 || ix < 0 || iy >= s.hw || ix >= s.hw) continue;
              acc += x[size_t(((g * cg + ci) * s.hw + iy) * s.hw + ix)] *
                     w[size_t(((co * cg + ci) * s.k + ky) * s.k + kx)];
            }
        want[size_t((co * ho + oy) * wo + ox)] = acc;
      }
  // A CPU Winograd conv errs in absolute terms of the output's scale (~1e-5 of
  // max |y|, tests/ops/test_conv2d_winograd.cpp); these outputs reach ~20.
  const bool winograd = p.x.device().is_cpu() && s.k == 3 && s.stride == 1 && !s.depthwise;
  return bench::compare("y", got, want, 1e-4, winograd ? 1e-3 : 1e-4);
}

#if SONO_WITH_CUDA
// The alternatives the CUDA dispatch decides between, called directly.
// 1x1 stride-1 conv as one GEMM per sample: y[n] [Cout, HW] = W [Cout, Cin] x[n] [Cin, HW].
void gemm_1x1_forward(const Problem& p, const Tensor& y) {
  const int64_t n = p.x.shape()[0], cin = p.x.shape()[1], cout = p.w.shape()[0], hw = p.x.shape()[2] * p.x.shape()[3];
  for (int64_t i = 0; i < n; ++i)
    cuda::gemm<float>(0, false, false, cout, hw, cin, 1.f, p.w.data<float>(), cin, p.x.data<float>() + i * cin * hw, hw,
                      0.f, y.data<float>() + i * cout * hw, hw);
}

// gx[n] = W^T gy[n]; gW = sum_n gy[n] x[n]^T (accumulated with beta = 1).
void gemm_1x1_backward(const Problem& p) {
  const int64_t n = p.x.shape()[0], cin = p.x.shape()[1], cout = p.w.shape()[0], hw = p.x.shape()[2] * p.x.shape()[3];
  for (int64_t i = 0; i < n; ++i) {
    const float* gy = p.gy.data<float>() + i * cout * hw;
    cuda::gemm<float>(0, true, false, cin, hw, cout, 1.f, p.w.data<float>(), cin, gy, hw, 0.f,
                      p.gx.data<float>() + i * cin * hw, hw);
    cuda::gemm<float>(0, false, true, cout, cin, hw, 1.f, gy, hw, p.x.data<float>() + i * cin * hw, hw,
                      i == 0 ? 0.f : 1.f, p.gw.data<float>(), cin);
  }
}

void run_alternative(const Problem& p, Path path, bool backward, const Tensor& y) {
  const cuda::conv::Geometry g = cuda::conv::geometry(p.x, p.w, p.out, p.opt);
  if (path == Path::Cudnn) {
    if (backward) cuda::conv::cudnn_backward(g, p.x, p.w, p.gy, p.gx, p.gw);
    else cuda::conv::cudnn_forward(g, p.x, p.w, Tensor(), y);
  } else {
    if (backward) gemm_1x1_backward(p);
    else gemm_1x1_forward(p, y);
  }
}
#endif

// The CPU alternatives for a dense 3x3 stride-1 conv, called directly.
void run_cpu_alternative(const Problem& p, Path path, bool backward, const Tensor& y) {
  const cpu::conv::Geometry g = cpu::conv::geometry(p.x, p.w, p.out, p.opt);
  const float *x = p.x.data<float>(), *w = p.w.data<float>(), *gy = p.gy.data<float>();
  float *gx = p.gx.data<float>(), *gw = p.gw.data<float>();
  if (path == Path::CpuScatter || path == Path::CpuGather) {
    cpu::conv::depthwise_backward_input(
        g, gy, w, gx,
        path == Path::CpuGather ? cpu::conv::StridedInputGrad::Gather : cpu::conv::StridedInputGrad::Scatter);
  } else if (path == Path::CpuGemm) {
    if (backward) cpu::conv::gemm_conv_backward(g, x, w, gy, gx, gw);
    else cpu::conv::gemm_conv_forward<float>(g, x, w, nullptr, y.data<float>());
  } else if (backward) {
    cpu::conv::winograd_backward_input(g, w, gy, gx);
    cpu::conv::winograd_backward_weight(g, x, gy, gw);
  } else {
    cpu::conv::winograd_forward(g, x, w, nullptr, y.data<float>());
  }
}

void conv_bench(benchmark::State& state, bench::Target t, ConvShape s, Path path, bool backward) {
  if (bench::skip_unavailable(state, t.device)) return;
  NoGradGuard ng;
  Problem p = make_problem(s, t);
  if (!bench::validated_once(state, str_cat("conv2d/", t.name, "/", s.name),
                             [&] { return check_forward(s, p, conv2d(p.x, p.w, Tensor(), p.opt)); }))
    return;
  Tensor y = Tensor::empty(p.out, DType::F32, t.device);
  std::function<void()> body;
  if (path == Path::CpuGemm || path == Path::CpuWinograd || path == Path::CpuScatter || path == Path::CpuGather) {
    body = [&] { run_cpu_alternative(p, path, backward, y); };
  } else if (path != Path::Auto) {
#if SONO_WITH_CUDA
    body = [&] { run_alternative(p, path, backward, y); };
#endif
  } else if (backward) {
    body = [&] { SONO_DISPATCH_DEVICE(p.x, "conv2d", conv2d_backward, p.x, p.w, p.gy, p.gx, p.gw, Tensor(), p.opt); };
  } else {
    body = [&] { y = conv2d(p.x, p.w, Tensor(), p.opt); };
  }
  body();  // algorithm choice, workspace growth
  bench::synchronize(t.device);
  bench::timed_loop(state, t.device, body);
  bench::set_gflops(state, (backward ? 4 : 2) * p.macs);
  // The fewest bytes: each input read once, each output written once (the
  // memory floor that tools/gpu/report.py compares against).
  const double floats = backward ? double(p.x.numel() + p.w.numel() + p.gy.numel() + p.gx.numel() + p.gw.numel())
                                 : double(p.x.numel() + p.w.numel() + y.numel());
  bench::set_gbytes(state, 4 * floats);
}

const bool registered = [] {
  for (const bench::Target& t : bench::targets())
    for (const ConvShape& s : shapes()) {
      const bool cuda = t.device.is_cuda();
      const bool pointwise = s.k == 1 && s.stride == 1 && !s.depthwise;
      std::vector<std::pair<const char*, Path>> paths = {{"auto", Path::Auto}};
      if (cuda && s.depthwise) paths.push_back({"cudnn", Path::Cudnn});
      if (cuda && pointwise) paths.push_back({"gemm", Path::Gemm1x1});
      for (bool backward : {false, true}) {
        if (backward && !cuda && !s.cpu_backward) continue;
        for (const auto& [label, path] : paths) {
          std::string name = str_cat(backward ? "conv2d_bwd/" : "conv2d_fwd/", t.name, "/", s.name);
          if (cuda) name += str_cat("/", label);
          bench::configure(benchmark::RegisterBenchmark(name.c_str(), conv_bench, t, s, path, backward));
        }
        if (!cuda && backward && s.depthwise && s.stride > 1) {
          // The strided depthwise input gradient alone, by its two paths (the
          // GFLOP/s counter counts both gradients' FLOPs: compare the times).
          for (const auto& [label, path] :
               {std::pair{"scatter", Path::CpuScatter}, std::pair{"gather", Path::CpuGather}}) {
            const std::string name = str_cat("conv2d_path_bwd/", t.name, "/", s.name, "/", label);
            bench::configure(benchmark::RegisterBenchmark(name.c_str(), conv_bench, t, s, path, backward));
          }
        }
        const bool winograd_shape = s.k == 3 && s.stride == 1 && !s.depthwise;
        if (cuda || !winograd_shape) continue;
        for (const auto& [label, path] : {std::pair{"gemm", Path::CpuGemm}, std::pair{"winograd", Path::CpuWinograd}}) {
          const std::string name =
              str_cat(backward ? "conv2d_path_bwd/" : "conv2d_path_fwd/", t.name, "/", s.name, "/", label);
          bench::configure(benchmark::RegisterBenchmark(name.c_str(), conv_bench, t, s, path, backward));
        }
      }
    }
  return true;
}();

}  // namespace
