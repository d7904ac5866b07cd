// bf16 storage on CUDA vs the CPU (docs/precision.md): every op's public
// entry on fresh random bf16 inputs, forward and every gradient, within
// tol::kCudaVsCpuBF16. The CPU's bf16 result is its f32 kernel on the same
// values rounded once, so this checks that each CUDA kernel loads bf16,
// computes in float and rounds its stores to nearest even. BatchNorm,
// GroupNorm and batch_norm_silu take a bf16 activation beside f32 (and bf16)
// per-channel tensors. Copies between f32 and bf16 are checked bit for bit.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "ops/batch_norm_silu.h"
#include "ops/drop_connect_add.h"
#include "ops/ops.h"
#include "ops/se_gate.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

namespace {

constexpr DType kBF16 = DType::BF16;
constexpr Tolerance kTol = tol::kCudaVsCpuBF16;

// A bf16 tensor of N(0, scale^2) values (rounded from f64 on the CPU).
Tensor bf16_randn(const Shape& shape, uint64_t seed, double scale = 1.0) { return randn(shape, seed, kBF16, scale); }

// One-input / two-input shorthands for check_op_cuda_vs_cpu.
void check_unary(Tensor (*fn)(const Tensor&), const Tensor& x) {
  check_op_cuda_vs_cpu([fn](const std::vector<Tensor>& in) { return fn(in[0]); }, {x}, kTol);
}

Conv2dOptions conv_options(int64_t stride, int64_t top, int64_t bottom, int64_t left, int64_t right, int64_t groups) {
  Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  o.pad_top = top, o.pad_bottom = bottom, o.pad_left = left, o.pad_right = right;
  o.groups = groups;
  return o;
}

// f32 values whose bf16 rounding is hard: exact ties (low half 0x8000, even
// and odd upper halves), just above and below a tie, the largest finite
// values (round to infinity or not), subnormals, signed zeros, infinities.
Tensor rounding_cases_f32(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> bits = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu, 0xff7fffffu,
                                0x7f7f8000u, 0x7f7f7fffu, 0x00000001u, 0x00008000u, 0x80018000u, 0x3f808000u,
                                0x3f818000u, 0x3f807fffu, 0x3f808001u, 0xbf808000u, 0xbf818000u};
  for (int i = 0; i < 4000; ++i) {
    uint32_t u = uint32_t(rng());
    if ((u & 0x7f800000u) == 0x7f800000u) u &= 0xbfffffffu;  // no NaN: bitwise checks never pass NaN
    if (i % 4 == 0) u = (u & 0xffff0000u) | 0x8000u;         // a tie
    bits.push_back(u);
  }
  std::vector<float> f(bits.size());
  std::memcpy(f.data(), bits.data(), bits.size() * 4);
  std::vector<double> d(f.begin(), f.end());
  return Tensor::from_vector(d, {int64_t(d.size())}).to(DType::F32);
}

}  // namespace

TEST_CASE("bf16 cuda: f32 <-> bf16 copies round to nearest even bit for bit like the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor f = rounding_cases_f32(8100);
  Tensor on_cpu = f.to(kBF16), on_gpu = f.to(kGpu).to(kBF16);
  REQUIRE(on_gpu.device() == kGpu);
  check_bitwise(on_gpu.to(Device::cpu()).to(DType::F32), on_cpu.to(DType::F32));
  // Widening is exact, and a strided (transposed) view takes the indexed path.
  Tensor b = bf16_randn({37, 53}, 8101, 3.0);
  check_bitwise(b.to(kGpu).to(DType::F32), b.to(DType::F32));
  check_bitwise(b.to(kGpu).permute({1, 0}).contiguous(), b.permute({1, 0}).contiguous());
  check_bitwise(b.to(kGpu).to(DType::F64), b.to(DType::F64));
}

TEST_CASE("bf16 cuda: in-place add and the broadcast reduction of gradients match the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor d = bf16_randn({5, 300}, 8200), s = bf16_randn({5, 300}, 8201);
  Tensor dc = d.clone(), dg = d.to(kGpu);
  dc.add_(s, -0.75);
  dg.add_(s.to(kGpu), -0.75);
  CHECK_CLOSE(dg, dc, kTol);
  // add with a broadcast operand: its gradient is sum_to_shape of gy.
  for (const Shape& bs : {Shape{300}, Shape{5, 1}, Shape{1, 1}}) {
    CAPTURE(shape_str(bs));
    check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return add(in[0], in[1]); },
                         {bf16_randn({5, 300}, 8202), bf16_randn(bs, 8203)}, kTol);
  }
}

TEST_CASE("bf16 cuda: activations and element-wise arithmetic match the CPU") {
  SKIP_WITHOUT_CUDA();
  for (const Shape& shape : {Shape{7}, Shape{3, 5, 17, 19}}) {
    CAPTURE(shape_str(shape));
    Tensor x = bf16_randn(shape, 8300, 3.0);
    check_unary(&silu, x);
    check_unary(&relu, x);
    check_unary(&sigmoid, x);
  }
  // Same shapes, the SE-gate pattern [N, C, H, W] x [N, C, 1, 1], a row
  // vector, a scalar; div keeps its denominators away from 0.
  Tensor a = bf16_randn({4, 6, 9, 11}, 8301);
  const Shape others[] = {{4, 6, 9, 11}, {4, 6, 1, 1}, {11}, {}};
  uint64_t seed = 8310;
  for (const Shape& bs : others) {
    CAPTURE(shape_str(bs));
    Tensor b = bf16_randn(bs, ++seed), pos = rand_uniform(bs, 0.5, 2.0, ++seed, kBF16);
    check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, {a, b}, kTol);
    check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return sub(in[0], in[1]); }, {a, b}, kTol);
    check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, b}, kTol);
    check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return div(in[0], in[1]); }, {a, pos}, kTol);
  }
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return in[0] * 0.3 + 1.7; }, {a}, kTol);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return neg(in[0]) - 0.25; }, {a}, kTol);
}

TEST_CASE("bf16 cuda: batch norm, group norm and batch_norm_silu with f32 and bf16 per-channel tensors") {
  SKIP_WITHOUT_CUDA();
  const int64_t C = 12;
  uint64_t seed = 8400;
  for (const Shape& shape : {Shape{4, C, 9, 7}, Shape{2, C, 32, 32}, Shape{8, C, 1, 1}}) {
    for (DType pt : {DType::F32, kBF16}) {  // the per-channel tensors' dtype
      for (bool training : {true, false}) {
        CAPTURE(shape_str(shape));
        CAPTURE(dtype_name(pt));
        CAPTURE(training);
        // Offset inputs: the statistics stay exact for a shifted one-pass variance.
        Tensor x = (randn(shape, ++seed, DType::F32, 2.0) + 3.0).to(kBF16);
        Tensor w = randn({C}, ++seed, pt), b = randn({C}, ++seed, pt);
        Tensor rm = randn({C}, ++seed, pt), rv = rand_uniform({C}, 0.5, 2.0, ++seed, pt);
        for (bool fused : {false, true}) {
          CAPTURE(fused);
          Tensor rm_c = rm.clone(), rv_c = rv.clone(), rm_g = rm.to(kGpu), rv_g = rv.to(kGpu);
          check_op_cuda_vs_cpu(
              [&](const std::vector<Tensor>& in) {
                const bool gpu = in[0].device().is_cuda();
                const Tensor& m = gpu ? rm_g : rm_c;
                const Tensor& v = gpu ? rv_g : rv_c;
                return fused ? batch_norm_silu(in[0], in[1], in[2], m, v, training, 0.1, 1e-5)
                             : batch_norm(in[0], in[1], in[2], m, v, training, 0.1, 1e-5);
              },
              {x, w, b}, kTol);
          // The running statistics keep their dtype and are updated alike.
          CHECK(rm_g.dtype() == pt);
          CHECK_CLOSE(rm_g, rm_c, pt == kBF16 ? kTol : tol::kCudaVsCpuF32);
          CHECK_CLOSE(rv_g, rv_c, pt == kBF16 ? kTol : tol::kCudaVsCpuF32);
        }
        if (training)
          check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return group_norm(in[0], 4, in[1], in[2], 1e-5); },
                               {x, w, b}, kTol);
      }
    }
  }
  // Without affine parameters; and a strided input.
  Tensor x = bf16_randn({3, 5, 4, C}, ++seed, 2.0);
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return batch_norm(in[0].permute({0, 3, 1, 2}), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
      },
      {x}, kTol);
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return group_norm(in[0].permute({0, 3, 1, 2}), 3, Tensor(), Tensor(), 1e-5);
      },
      {x}, kTol);
}

TEST_CASE("bf16 cuda: conv2d on the cuDNN and depthwise paths matches the CPU") {
  SKIP_WITHOUT_CUDA();
  struct Case {
    const char* what;
    Shape x;  // [N, Cin, H, W]
    int64_t cout, kh, kw;
    Conv2dOptions opt;
  };
  const Case cases[] = {
      {"stem 3x3 s2 pads (0,1,0,1)", {2, 3, 33, 32}, 48, 3, 3, conv_options(2, 0, 1, 0, 1, 1)},
      {"dense 3x3 s1 pad 1", {2, 32, 12, 12}, 16, 3, 3, conv_options(1, 1, 1, 1, 1, 1)},
      {"1x1 expand", {2, 24, 10, 10}, 144, 1, 1, conv_options(1, 0, 0, 0, 0, 1)},
      {"1x1 SE on a 1x1 map", {4, 40, 1, 1}, 10, 1, 1, conv_options(1, 0, 0, 0, 0, 1)},
      {"grouped 3x3 groups 2", {2, 8, 9, 9}, 6, 3, 3, conv_options(1, 1, 1, 1, 1, 2)},
      {"dw 3x3 s1 pad 1", {2, 8, 16, 16}, 8, 3, 3, conv_options(1, 1, 1, 1, 1, 8)},
      {"dw 3x3 s2 pads (0,1,0,1)", {2, 8, 16, 17}, 8, 3, 3, conv_options(2, 0, 1, 0, 1, 8)},
      {"dw 5x5 s2 pads (1,2,1,2)", {2, 6, 24, 24}, 6, 5, 5, conv_options(2, 1, 2, 1, 2, 6)},
      {"dw 7x7 generic", {2, 3, 14, 14}, 3, 7, 7, conv_options(1, 3, 3, 3, 3, 3)},
      {"dw 9x9 through cuDNN", {1, 3, 12, 12}, 3, 9, 9, conv_options(1, 4, 4, 4, 4, 3)},
  };
  // bf16 ignores the f32 precision setting: strict FP32 here changes nothing.
  const PrecisionScope fp32(Precision::FP32);
  uint64_t seed = 8500;
  for (const Case& c : cases) {
    for (bool with_bias : {true, false}) {
      CAPTURE(c.what);
      CAPTURE(with_bias);
      const int64_t fan_in = c.x[1] / c.opt.groups * c.kh * c.kw;
      // Weights scaled like an init, so outputs are of order 1.
      Tensor x = bf16_randn(c.x, ++seed);
      Tensor w = bf16_randn({c.cout, c.x[1] / c.opt.groups, c.kh, c.kw}, ++seed, 1.0 / std::sqrt(double(fan_in)));
      std::vector<Tensor> in = {x, w};
      if (with_bias) in.push_back(bf16_randn({c.cout}, ++seed));
      const Conv2dOptions opt = c.opt;
      check_op_cuda_vs_cpu(
          [opt](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), opt); }, in,
          kTol, ++seed);
    }
  }
}

TEST_CASE("bf16 cuda: linear through cuBLAS matches the CPU") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 8600;
  for (auto [n, in, out] : {std::array<int64_t, 3>{1, 7, 3}, {20, 1792, 6}, {64, 256, 512}}) {
    CAPTURE(n);
    CAPTURE(in);
    CAPTURE(out);
    Tensor x = bf16_randn({n, in}, ++seed), w = bf16_randn({out, in}, ++seed, 1.0 / std::sqrt(double(in)));
    Tensor b = bf16_randn({out}, ++seed);
    check_op_cuda_vs_cpu([](const std::vector<Tensor>& v) { return linear(v[0], v[1], v[2]); }, {x, w, b}, kTol);
    check_op_cuda_vs_cpu([](const std::vector<Tensor>& v) { return linear(v[0], v[1], Tensor()); }, {x, w}, kTol);
  }
}

TEST_CASE("bf16 cuda: pooling, reductions, softmax and resizing match the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor x = bf16_randn({3, 5, 13, 17}, 8700, 2.0);
  check_unary(&global_avg_pool2d, x);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return sum(in[0]); }, {x}, kTol);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return mean(in[0], {1}, true); }, {x}, kTol);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return sum(in[0], {2, 3}); }, {x}, kTol);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return mean(in[0], {0, 2}); }, {x}, kTol);
  Tensor big = bf16_randn({1 << 17}, 8701);  // one long row: the two-pass reduction
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return sum(in[0]); }, {big}, kTol);
  for (int64_t dim : {1, 3}) {
    CAPTURE(dim);
    check_bitwise(argmax(x.to(kGpu), dim), argmax(x, dim));
    check_op_cuda_vs_cpu([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); }, {x}, kTol);
    check_op_cuda_vs_cpu([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); }, {x}, kTol);
  }
  check_unary(&upsample_nearest2x, x);
  for (bool align : {false, true}) {
    CAPTURE(align);
    check_op_cuda_vs_cpu([align](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], 29, 20, align); },
                         {x}, kTol);
    check_op_cuda_vs_cpu([align](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], 6, 9, align); },
                         {x}, kTol);
  }
}

TEST_CASE("bf16 cuda: the five losses match the CPU") {
  SKIP_WITHOUT_CUDA();
  // Each loss is scaled by its element count, so the gradients are of order 1.
  const Shape shape{4, 3, 21, 23};
  const double n = double(shape_numel(shape));
  Tensor x = bf16_randn(shape, 8800, 2.0), t = bf16_randn(shape, 8801);
  Tensor p = rand_uniform(shape, 0.0, 1.0, 8802, kBF16);
  check_op_cuda_vs_cpu([n](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]) * n; }, {x, t}, kTol);
  check_op_cuda_vs_cpu([n](const std::vector<Tensor>& in) { return l1_loss(in[0], in[1]) * n; }, {x, t}, kTol);
  check_op_cuda_vs_cpu([n](const std::vector<Tensor>& in) { return bce_with_logits(in[0], in[1]) * n; }, {x, p}, kTol);
  for (auto [B, C] : {std::pair<int64_t, int64_t>{16, 7}, {300, 5}}) {
    CAPTURE(B);
    Tensor z = bf16_randn({B, C}, 8803, 3.0), y = rand_int({B}, 0, C, 8804);
    Tensor yg = y.to(kGpu);
    check_op_cuda_vs_cpu(
        [&, B = B](const std::vector<Tensor>& in) {
          return cross_entropy(in[0], in[0].device().is_cuda() ? yg : y) * double(B);
        },
        {z}, kTol);
  }
  Tensor z = bf16_randn({2, 4, 19, 23}, 8805, 3.0), y = rand_int({2, 19, 23}, 0, 4, 8806);
  Tensor yg = y.to(kGpu);
  check_op_cuda_vs_cpu(
      [&](const std::vector<Tensor>& in) { return dice_loss(in[0], in[0].device().is_cuda() ? yg : y) * 100.0; }, {z},
      kTol);
}

TEST_CASE("bf16 cuda: the fused SE gate and drop-connect add, dropout and gathers match the CPU") {
  SKIP_WITHOUT_CUDA();
  Tensor x = bf16_randn({4, 6, 9, 11}, 8900), s = bf16_randn({4, 6}, 8901, 2.0), r = bf16_randn({4, 6, 9, 11}, 8902);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return se_gate(in[0], in[1]); }, {x, s}, kTol);
  Tensor m = Tensor::from_vector<double>({0.0, 1.25, 1.25, 0.0}, {4}).to(kBF16), mg = m.to(kGpu);
  check_op_cuda_vs_cpu(
      [&](const std::vector<Tensor>& in) { return drop_connect_add(in[0], in[0].device().is_cuda() ? mg : m, in[1]); },
      {x, r}, kTol);
  using Op = Tensor (*)(const Tensor&, double, bool, Generator&);
  for (Op op : {Op(&dropout), Op(&dropout2d), Op(&drop_connect)}) {
    Generator gc(91, 3), gg(91, 3);
    Tensor xc = x.clone().set_requires_grad(true), xgpu = x.to(kGpu).set_requires_grad(true);
    Tensor yc = op(xc, 0.3, true, gc), yg = op(xgpu, 0.3, true, gg);
    CHECK(yg.dtype() == kBF16);
    CHECK_CLOSE(yg, yc, kTol);  // the same masks: both draw from one Philox stream
    CHECK(gg.offset == gc.offset);
    Tensor gy = bf16_randn(x.shape(), 8903);
    yc.backward(gy);
    yg.backward(gy.to(kGpu));
    CHECK_CLOSE(xgpu.grad(), xc.grad(), kTol);
  }
  Tensor rows = Tensor::from_vector<int64_t>({0, 8, 3, 5}, {4}),
         cols = Tensor::from_vector<int64_t>({10, 0, 4, 7}, {4});
  Tensor rg = rows.to(kGpu), cg = cols.to(kGpu);
  check_op_cuda_vs_cpu(
      [&](const std::vector<Tensor>& in) {
        const bool gpu = in[0].device().is_cuda();
        return gather_cells(in[0], gpu ? rg : rows, gpu ? cg : cols);
      },
      {x}, kTol);
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return concat({in[0], in[1]}, 1); }, {x, r}, kTol);
}
