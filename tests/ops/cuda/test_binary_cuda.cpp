// Broadcasting arithmetic on CUDA vs the CPU kernels: one IEEE operation per
// element on both devices, so the results are compared bit for bit.
#include <doctest/doctest.h>

#include "ops/binary.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("binary cuda: every broadcast pattern equals the CPU bit for bit") {
  SKIP_WITHOUT_CUDA();
  // Same shape, the squeeze-excitation gate both ways, [N, C] x [C], scalar
  // and one-element operands, drop-connect masks, and general broadcasts
  // that need the n-d indexer.
  const std::pair<Shape, Shape> cases[] = {{{4, 5, 6, 7}, {4, 5, 6, 7}},
                                           {{4, 5, 6, 7}, {4, 5, 1, 1}},
                                           {{4, 5, 1, 1}, {4, 5, 6, 7}},
                                           {{8, 3}, {3}},
                                           {{3}, {8, 3}},
                                           {{}, {2, 3, 4}},
                                           {{5, 6}, {1}},
                                           {{4, 3, 2, 2}, {4, 1, 1, 1}},
                                           {{4, 1, 3}, {5, 1}},
                                           {{2, 1, 3, 1, 5}, {4, 1, 6, 1}},
                                           {{3, 1, 1}, {1, 4, 1}}};
  uint64_t seed = 3600;
  for (DType t : {DType::F32, DType::F64}) {
    for (const auto& [sa, sb] : cases) {
      for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
        CAPTURE(dtype_name(t));
        CAPTURE(shape_str(sa));
        CAPTURE(shape_str(sb));
        CAPTURE(int(op));
        Tensor a = randn(sa, ++seed, t), b = rand_uniform(sb, 0.5, 2.0, ++seed, t);  // b away from 0 for div
        const Shape out_shape = broadcast_shapes(sa, sb, "test");
        Tensor out = Tensor::empty(out_shape, t);
        cpu::binary_forward(op, a, b, out);
        Tensor out_g = nan_tensor(out_shape, t);
        cuda::binary_forward(op, a.to(kGpu), b.to(kGpu), out_g);
        check_bitwise(out_g, out);
      }
    }
  }
}

TEST_CASE("binary cuda: scalar affine forms and the public ops with gradients match the CPU") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 3700;
  for (DType t : {DType::F32, DType::F64}) {
    for (auto [alpha, beta] : {std::pair<double, double>{-1.0, 0.0}, {1.0, 2.5}, {0.3, -1.25}}) {
      CAPTURE(dtype_name(t));
      CAPTURE(alpha);
      CAPTURE(beta);
      Tensor x = randn({3, 1000}, ++seed, t), out = Tensor::empty(x.shape(), t);
      cpu::affine_forward(x, alpha, beta, out);
      Tensor out_g = nan_like(x.to(kGpu));
      cuda::affine_forward(x.to(kGpu), alpha, beta, out_g);
      CHECK_CLOSE(out_g, out, cuda_tol(t));
    }
  }
  Tensor a = randn({2, 6, 5, 4}, 3750, DType::F32), s = rand_uniform({2, 6, 1, 1}, 0.5, 2, 3751, DType::F32);
  for (auto fn : {&sono::add, &sono::sub, &sono::mul, &sono::div}) {
    check_op_cuda_vs_cpu([&](const std::vector<Tensor>& in) { return fn(in[0], in[1]); }, {a, s}, tol::kCudaVsCpuF32);
    check_op_cuda_vs_cpu(
        [&](const std::vector<Tensor>& in) {
          return fn(in[1], in[0].permute({0, 1, 3, 2}));
        },
        {a, s}, tol::kCudaVsCpuF32);
  }
  check_op_cuda_vs_cpu([](const std::vector<Tensor>& in) { return neg(in[0]) * 3.0 + 1.5; }, {a}, tol::kCudaVsCpuF32);
}
