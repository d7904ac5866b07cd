// The five losses on CUDA vs the CPU kernels, on fresh random inputs, with
// every output poisoned with NaN before the CUDA kernel runs.
#include <doctest/doctest.h>

#include "ops/loss.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

namespace {

const PointwiseLoss kPointwise[] = {PointwiseLoss::MSE, PointwiseLoss::BCEWithLogits, PointwiseLoss::L1};

// A one-element gradient of the loss, on the device of `like`.
Tensor grad_scalar(double v, DType t, Device d) { return Tensor::full({}, v, t, d); }

}  // namespace

TEST_CASE("loss cuda: pointwise losses forward and both gradients match the CPU") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 9000;
  for (DType t : {DType::F32, DType::F64}) {
    for (PointwiseLoss kind : kPointwise) {
      for (const Shape& shape : {Shape{7}, Shape{3, 5, 7, 11}, Shape{4, 300, 301}}) {
        CAPTURE(dtype_name(t));
        CAPTURE(int(kind));
        CAPTURE(shape_str(shape));
        Tensor x = randn(shape, ++seed, t, 2.0);
        Tensor y =
            kind == PointwiseLoss::BCEWithLogits ? rand_uniform(shape, 0, 1, ++seed, t) : randn(shape, ++seed, t);
        Tensor loss = Tensor::empty({}, t), gx = Tensor::empty(shape, t), gt = Tensor::empty(shape, t);
        // grad_loss scaled by n so the gradients are of order 1 (the tolerance is relative).
        Tensor gl = grad_scalar(0.75 * double(shape_numel(shape)), t, Device::cpu());
        cpu::pointwise_loss_forward(kind, x, y, loss);
        cpu::pointwise_loss_backward(kind, x, y, gl, gx, gt);

        Tensor xg = x.to(kGpu), yg = y.to(kGpu);
        Tensor loss_g = nan_tensor({}, t), gx_g = nan_like(xg), gt_g = nan_like(xg);
        cuda::pointwise_loss_forward(kind, xg, yg, loss_g);
        cuda::pointwise_loss_backward(kind, xg, yg, gl.to(kGpu), gx_g, gt_g);
        CHECK_CLOSE(loss_g, loss, cuda_tol(t));
        CHECK_CLOSE(gx_g, gx, cuda_tol(t));
        CHECK_CLOSE(gt_g, gt, cuda_tol(t));
        // One gradient alone leaves the other untouched.
        Tensor only_gx = nan_like(xg);
        cuda::pointwise_loss_backward(kind, xg, yg, gl.to(kGpu), only_gx, Tensor());
        CHECK_CLOSE(only_gx, gx, cuda_tol(t));
      }
    }
  }
}

TEST_CASE("loss cuda: pointwise losses through the public ops and autograd on the device") {
  SKIP_WITHOUT_CUDA();
  Tensor x = randn({6, 9}, 9100, DType::F32), y = rand_uniform({9, 6}, 0, 1, 9101, DType::F32);
  for (auto fn : {&mse_loss, &bce_with_logits, &l1_loss}) {
    Tensor xc = x.clone().set_requires_grad(true), yc = y.clone().set_requires_grad(true);
    Tensor xg = x.to(kGpu).set_requires_grad(true), yg = y.to(kGpu).set_requires_grad(true);
    Tensor lc = fn(xc.permute({1, 0}), yc), lg = fn(xg.permute({1, 0}), yg);  // non-contiguous input
    CHECK(lg.device() == kGpu);
    CHECK_CLOSE(lg, lc, tol::kCudaVsCpuF32);
    lc.backward();
    lg.backward();
    CHECK_CLOSE(xg.grad(), xc.grad(), tol::kCudaVsCpuF32);
    CHECK_CLOSE(yg.grad(), yc.grad(), tol::kCudaVsCpuF32);
  }
}

TEST_CASE("loss cuda: cross entropy forward and gradient match the CPU") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 9200;
  for (DType t : {DType::F32, DType::F64}) {
    for (auto [B, C] : {std::pair<int64_t, int64_t>{1, 2}, {16, 7}, {37, 1000}, {3000, 5}}) {
      CAPTURE(dtype_name(t));
      CAPTURE(B);
      CAPTURE(C);
      Tensor z = randn({B, C}, ++seed, t, 3.0), y = rand_int({B}, 0, C, ++seed);
      Tensor loss = Tensor::empty({}, t), g = Tensor::empty({B, C}, t);
      Tensor gl = grad_scalar(-1.5 * double(B), t, Device::cpu());  // gradients of order 1
      cpu::cross_entropy_forward(z, y, loss);
      cpu::cross_entropy_backward(z, y, gl, g);
      Tensor zg = z.to(kGpu), yg = y.to(kGpu);
      Tensor loss_g = nan_tensor({}, t), g_g = nan_like(zg);
      cuda::cross_entropy_forward(zg, yg, loss_g);
      cuda::cross_entropy_backward(zg, yg, gl.to(kGpu), g_g);
      CHECK_CLOSE(loss_g, loss, cuda_tol(t));
      CHECK_CLOSE(g_g, g, cuda_tol(t));
    }
  }
  // Public op with autograd.
  Tensor z = randn({8, 5}, 9250, DType::F32), y = rand_int({8}, 0, 5, 9251);
  Tensor zc = z.clone().set_requires_grad(true), zg = z.to(kGpu).set_requires_grad(true);
  Tensor lc = cross_entropy(zc, y), lg = cross_entropy(zg, y.to(kGpu));
  CHECK_CLOSE(lg, lc, tol::kCudaVsCpuF32);
  lc.backward();
  lg.backward();
  CHECK_CLOSE(zg.grad(), zc.grad(), tol::kCudaVsCpuF32);
}

TEST_CASE("loss cuda: dice forward, class statistics and gradient match the CPU") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 9300;
  for (DType t : {DType::F32, DType::F64}) {
    for (const Shape& shape : {Shape{2, 4, 17, 13}, Shape{3, 2, 64, 64}, Shape{2, 5, 256, 256}}) {
      CAPTURE(dtype_name(t));
      CAPTURE(shape_str(shape));
      const int64_t B = shape[0], C = shape[1];
      Tensor z = randn(shape, ++seed, t, 3.0);
      // Class C-1 never appears: its loss term is 0 and its gradient row differs.
      Tensor y = rand_int({B, shape[2], shape[3]}, 0, C - 1, ++seed);
      for (double smooth : {0.0, 1.0}) {
        Tensor stats = Tensor::empty({C, 3}, DType::F64), loss = Tensor::empty({}, t);
        // grad_loss scaled by the pixel count: gradients of order 1.
        Tensor g = Tensor::empty(shape, t), gl = grad_scalar(1.25 * double(B * shape[2] * shape[3]), t, Device::cpu());
        cpu::dice_loss_forward(z, y, smooth, 1e-7, stats, loss);
        cpu::dice_loss_backward(z, y, stats, smooth, 1e-7, gl, g);
        Tensor zg = z.to(kGpu), yg = y.to(kGpu);
        Tensor stats_g = nan_tensor({C, 3}, DType::F64), loss_g = nan_tensor({}, t), g_g = nan_like(zg);
        cuda::dice_loss_forward(zg, yg, smooth, 1e-7, stats_g, loss_g);
        cuda::dice_loss_backward(zg, yg, stats_g, smooth, 1e-7, gl.to(kGpu), g_g);
        CHECK_CLOSE(stats_g, stats, cuda_tol(t));  // double sums of the dtype's probabilities
        CHECK_CLOSE(loss_g, loss, cuda_tol(t));
        CHECK_CLOSE(g_g, g, cuda_tol(t));
      }
    }
  }
  // Public op with autograd on non-contiguous logits.
  Tensor z = randn({2, 9, 11, 3}, 9350, DType::F32), y = rand_int({2, 9, 11}, 0, 3, 9351);
  Tensor zc = z.clone().set_requires_grad(true), zg = z.to(kGpu).set_requires_grad(true);
  Tensor lc = dice_loss(zc.permute({0, 3, 1, 2}), y), lg = dice_loss(zg.permute({0, 3, 1, 2}), y.to(kGpu));
  CHECK_CLOSE(lg, lc, tol::kCudaVsCpuF32);
  lc.backward();
  lg.backward();
  CHECK_CLOSE(zg.grad(), zc.grad(), tol::kCudaVsCpuF32);
}

TEST_CASE("loss cuda: class index range and the out-of-range error on the device") {
  SKIP_WITHOUT_CUDA();
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t(1) << 20}) {
    CAPTURE(n);
    Tensor y = rand_int({n}, -50, 70, 9400 + uint64_t(n));
    int64_t lo = 0, hi = 0, lo_g = 1, hi_g = -1;
    cpu::class_index_range(y, &lo, &hi);
    cuda::class_index_range(y.to(kGpu), &lo_g, &hi_g);
    CHECK(lo_g == lo);
    CHECK(hi_g == hi);
  }
  Tensor z = randn({2, 3}, 9410, DType::F32).to(kGpu);
  Tensor bad = Tensor::from_vector(std::vector<int64_t>{1, 3}, {2}).to(kGpu);
  CHECK_THROWS_WITH_AS(cross_entropy(z, bad), doctest::Contains("cross_entropy: target i64[2] cuda"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(z, bad), doctest::Contains("holds class 3"), Error);
}
