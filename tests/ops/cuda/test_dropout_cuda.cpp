// Dropout masks on CUDA: bit-identical to the CPU's for the same Philox stream.
#include <doctest/doctest.h>

#include "ops/dropout.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("dropout cuda: masks are bit-identical to the CPU's for both rules") {
  SKIP_WITHOUT_CUDA();
  for (DType t : {DType::F32, DType::F64}) {
    for (MaskRule rule : {MaskRule::Bernoulli, MaskRule::Floor}) {
      for (double p : {0.1, 0.19375, 0.5, 0.9}) {
        for (uint64_t offset : {uint64_t(0), uint64_t(3), (uint64_t(1) << 33) + 5}) {
          CAPTURE(dtype_name(t));
          CAPTURE(int(rule));
          CAPTURE(p);
          CAPTURE(offset);
          const uint64_t seed = 0x9E3779B97F4A7C15ull ^ offset;
          Tensor mask = Tensor::empty({3, 7, 1001}, t);
          cpu::dropout_mask(rule, p, 1.0 / (1.0 - p), seed, offset, mask);
          Tensor mask_g = nan_like(mask.to(kGpu));
          cuda::dropout_mask(rule, p, 1.0 / (1.0 - p), seed, offset, mask_g);
          check_bitwise(mask_g, mask);
        }
      }
    }
  }
}

TEST_CASE("dropout cuda: the public ops draw the same masks and advance the generator alike") {
  SKIP_WITHOUT_CUDA();
  Tensor x = randn({4, 6, 5, 5}, 3500, DType::F32);
  using Op = Tensor (*)(const Tensor&, double, bool, Generator&);
  for (Op op : {Op(&dropout), Op(&dropout2d), Op(&drop_connect)}) {
    Generator gc(77, 10), gg(77, 10);
    Tensor xc = x.clone().set_requires_grad(true), xg = x.to(kGpu).set_requires_grad(true);
    Tensor yc = op(xc, 0.3, true, gc), yg = op(xg, 0.3, true, gg);
    check_bitwise(yg, yc);  // x * mask is exact on both devices
    CHECK(gg.offset == gc.offset);
    Tensor gy = randn(x.shape(), 3501, DType::F32);
    yc.backward(gy);
    yg.backward(gy.to(kGpu));
    check_bitwise(xg.grad(), xc.grad());
  }
}
