// conv2d on CUDA (cuDNN for dense/grouped, hand-written depthwise kernels)
// vs the CPU kernels: forward and every gradient, every path.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/cuda/context.h"
#include "ops/conv2d.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

namespace {

struct ConvCase {
  const char* what;
  Shape x;  // [N, Cin, H, W]
  int64_t cout, kh, kw;
  Conv2dOptions opt;
};

Conv2dOptions options(int64_t stride, int64_t top, int64_t bottom, int64_t left, int64_t right, int64_t groups,
                      int64_t dilation = 1) {
  Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  o.pad_top = top, o.pad_bottom = bottom, o.pad_left = left, o.pad_right = right;
  o.groups = groups;
  o.dilation_h = o.dilation_w = dilation;
  return o;
}

std::vector<ConvCase> cases() {
  return {
      // cuDNN: the stem (asymmetric TF pads: explicit padding), a 3x3 pad-1
      // decoder conv, 1x1 expand/project/SE convs, a grouped conv.
      {"stem 3x3 s2 pads (0,1,0,1)", {2, 3, 33, 32}, 48, 3, 3, options(2, 0, 1, 0, 1, 1)},
      {"dense 3x3 s1 pad 1", {2, 16, 12, 12}, 16, 3, 3, options(1, 1, 1, 1, 1, 1)},
      {"1x1 expand", {2, 24, 10, 10}, 144, 1, 1, options(1, 0, 0, 0, 0, 1)},
      {"1x1 SE on a 1x1 map", {4, 40, 1, 1}, 10, 1, 1, options(1, 0, 0, 0, 0, 1)},
      {"grouped 3x3 groups 2", {2, 8, 9, 9}, 6, 3, 3, options(1, 1, 1, 1, 1, 2)},
      {"dense asymmetric (1,2,0,3) s1", {1, 4, 7, 8}, 5, 3, 2, options(1, 1, 2, 0, 3, 1)},
      // Depthwise kernels: every pad/stride of the encoder, dilation, the
      // generic (runtime-size) path, enough positions for several chunks.
      {"dw 3x3 s1 pad 1", {2, 8, 16, 16}, 8, 3, 3, options(1, 1, 1, 1, 1, 8)},
      {"dw 3x3 s2 pads (0,1,0,1)", {2, 8, 16, 17}, 8, 3, 3, options(2, 0, 1, 0, 1, 8)},
      {"dw 5x5 s1 pad 2", {2, 6, 11, 13}, 6, 5, 5, options(1, 2, 2, 2, 2, 6)},
      {"dw 5x5 s2 pads (1,2,1,2)", {2, 6, 24, 24}, 6, 5, 5, options(2, 1, 2, 1, 2, 6)},
      {"dw 5x5 s2 pad 2", {2, 6, 15, 16}, 6, 5, 5, options(2, 2, 2, 2, 2, 6)},
      {"dw 3x3 dilation 2", {1, 4, 12, 12}, 4, 3, 3, options(1, 2, 2, 2, 2, 4, 2)},
      {"dw 7x7 generic", {2, 3, 14, 14}, 3, 7, 7, options(1, 3, 3, 3, 3, 3)},
      {"dw 1x3 generic", {2, 5, 6, 9}, 5, 1, 3, options(1, 0, 0, 1, 1, 5)},
      {"dw 3x3 many chunks", {4, 4, 128, 128}, 4, 3, 3, options(1, 1, 1, 1, 1, 4)},
      {"dw 9x9 through cuDNN", {1, 3, 12, 12}, 3, 9, 9, options(1, 4, 4, 4, 4, 3)},
  };
}

Shape output_shape(const ConvCase& c) {
  const Conv2dOptions& o = c.opt;
  const int64_t ho = (c.x[2] + o.pad_top + o.pad_bottom - o.dilation_h * (c.kh - 1) - 1) / o.stride_h + 1;
  const int64_t wo = (c.x[3] + o.pad_left + o.pad_right - o.dilation_w * (c.kw - 1) - 1) / o.stride_w + 1;
  return {c.x[0], c.cout, ho, wo};
}

// Forward and every gradient of one case on both devices, within tl.
void check_case(const ConvCase& c, DType t, bool with_bias, uint64_t& seed, Tolerance tl) {
  CAPTURE(dtype_name(t));
  CAPTURE(c.what);
  CAPTURE(with_bias);
  const Shape ys = output_shape(c);
  const int64_t fan_in = c.x[1] / c.opt.groups * c.kh * c.kw, positions = ys[0] * ys[2] * ys[3];
  // Weights scaled like a real init and gy by 1/sqrt(positions), so
  // outputs and gradients are of order 1 (the f32 tolerance is relative).
  Tensor x = randn(c.x, ++seed, t),
         w = randn({c.cout, c.x[1] / c.opt.groups, c.kh, c.kw}, ++seed, t, 1.0 / std::sqrt(double(fan_in)));
  Tensor b = with_bias ? randn({c.cout}, ++seed, t) : Tensor();
  Tensor gy = randn(ys, ++seed, t, 1.0 / std::sqrt(double(positions)));
  Tensor y = Tensor::empty(ys, t), gx = Tensor::empty(c.x, t), gw = Tensor::empty(w.shape(), t);
  Tensor gb = Tensor::empty({c.cout}, t);
  cpu::conv2d_forward(x, w, b, y, c.opt);
  cpu::conv2d_backward(x, w, gy, gx, gw, gb, c.opt);

  Tensor xg = x.to(kGpu), wg = w.to(kGpu), bg = with_bias ? b.to(kGpu) : Tensor(), gyg = gy.to(kGpu);
  Tensor y_g = nan_tensor(ys, t), gx_g = nan_tensor(c.x, t), gw_g = nan_tensor(w.shape(), t);
  Tensor gb_g = nan_tensor({c.cout}, t);
  cuda::conv2d_forward(xg, wg, bg, y_g, c.opt);
  cuda::conv2d_backward(xg, wg, gyg, gx_g, gw_g, gb_g, c.opt);
  CHECK_CLOSE(y_g, y, tl);
  CHECK_CLOSE(gx_g, gx, tl);
  CHECK_CLOSE(gw_g, gw, tl);
  CHECK_CLOSE(gb_g, gb, tl);
  // The input gradient alone, without x (a frozen layer saves none).
  Tensor only_gx = nan_tensor(c.x, t);
  cuda::conv2d_backward(Tensor(), wg, gyg, only_gx, Tensor(), Tensor(), c.opt);
  CHECK_CLOSE(only_gx, gx, tl);
}

}  // namespace

TEST_CASE("conv2d cuda: forward and every gradient match the CPU on every path") {
  SKIP_WITHOUT_CUDA();
  const PrecisionScope fp32(Precision::FP32);  // compared with the CPU: strict FP32
  uint64_t seed = 4600;
  for (DType t : {DType::F32, DType::F64})
    for (const ConvCase& c : cases())
      for (bool with_bias : {true, false}) check_case(c, t, with_bias, seed, cuda_tol(t));
}

TEST_CASE("conv2d cuda: tf32 precision stays within the tf32 tolerance of the CPU, f64 ignores it") {
  SKIP_WITHOUT_CUDA();
  const PrecisionScope tf32(Precision::TF32);
  uint64_t seed = 4800;
  for (DType t : {DType::F32, DType::F64})
    for (const ConvCase& c : cases()) check_case(c, t, true, seed, t == DType::F32 ? tol::kCudaVsCpuTF32 : cuda_tol(t));
}

TEST_CASE("conv2d cuda: cached plans, cudnnFind and a context reset all give the CPU's results") {
  SKIP_WITHOUT_CUDA();
  const PrecisionScope fp32(Precision::FP32);
  const ConvAlgoSearch before = conv_algo_search();
  uint64_t seed = 4900;
  for (ConvAlgoSearch search : {ConvAlgoSearch::Heuristic, ConvAlgoSearch::Benchmark}) {
    CAPTURE(int(search));
    set_conv_algo_search(search);
    // Twice per search mode: the second round runs on the cached plans.
    for (int round = 0; round < 2; ++round)
      for (const ConvCase& c : cases()) check_case(c, DType::F32, round == 0, seed, tol::kCudaVsCpuF32);
  }
  set_conv_algo_search(before);
  cuda::reset_context(0);  // frees every plan and handle; the next calls make them again
  for (const ConvCase& c : cases()) check_case(c, DType::F32, true, seed, tol::kCudaVsCpuF32);
}

TEST_CASE("conv2d cuda: the public op matches the CPU with gradients, and reruns are bitwise equal") {
  SKIP_WITHOUT_CUDA();
  const PrecisionScope fp32(Precision::FP32);
  const Conv2dOptions dw = options(2, 1, 2, 1, 2, 6), dense = options(2, 0, 1, 0, 1, 1);
  Tensor x = randn({2, 9, 10, 6}, 4700, DType::F32);
  check_op_cuda_vs_cpu(
      [&](const std::vector<Tensor>& in) {
        return conv2d(in[0].permute({0, 3, 1, 2}), in[1], in[2], dw);
      },
      {x, randn({6, 1, 5, 5}, 4701, DType::F32, 0.2), randn({6}, 4702, DType::F32)}, tol::kCudaVsCpuF32);
  check_op_cuda_vs_cpu(
      [&](const std::vector<Tensor>& in) {
        return conv2d(in[0].permute({0, 3, 1, 2}), in[1], in[2], dense);
      },
      {x, randn({8, 6, 3, 3}, 4703, DType::F32, 0.15), randn({8}, 4704, DType::F32)}, tol::kCudaVsCpuF32);
  // Deterministic algorithms and reductions: the same call gives the same bits.
  Tensor xg = randn({2, 16, 20, 20}, 4705, DType::F32).to(kGpu), wg = randn({32, 16, 3, 3}, 4706, DType::F32).to(kGpu);
  Tensor gyg = randn({2, 32, 20, 20}, 4707, DType::F32).to(kGpu);
  const Conv2dOptions o = options(1, 1, 1, 1, 1, 1);
  auto grads = [&] {
    Tensor gx = Tensor::empty(xg.shape(), DType::F32, kGpu), gw = Tensor::empty(wg.shape(), DType::F32, kGpu);
    cuda::conv2d_backward(xg, wg, gyg, gx, gw, Tensor(), o);
    return std::make_pair(gx, gw);
  };
  auto [gx1, gw1] = grads();
  auto [gx2, gw2] = grads();
  check_bitwise(gx2, gx1);
  check_bitwise(gw2, gw1);
}
