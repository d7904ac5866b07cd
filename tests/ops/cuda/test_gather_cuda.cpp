// gather_cells on CUDA vs the CPU kernels (concat is device-agnostic: checked
// through the public op only).
#include <doctest/doctest.h>

#include "ops/gather.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("gather cuda: cell gather forward and its scatter match the CPU on strided inputs") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 3400;
  for (DType t : {DType::F32, DType::F64}) {
    CAPTURE(dtype_name(t));
    const int64_t B = 6, C = 5, H = 7, W = 9;
    Tensor x = randn({B, H, W, C}, ++seed, t).permute({0, 3, 1, 2});  // non-contiguous [B, C, H, W]
    Tensor rows = rand_int({B}, 0, H, ++seed), cols = rand_int({B}, 0, W, ++seed);
    Tensor gy = randn({C, B}, ++seed, t).permute({1, 0});  // non-contiguous [B, C]
    Tensor out = Tensor::empty({B, C}, t), gx = Tensor::zeros({B, C, H, W}, t);
    cpu::gather_cells_forward(x, rows, cols, out);
    cpu::gather_cells_backward(gy, rows, cols, gx);
    Tensor xg = x.to(kGpu).permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});  // same strides on the device
    Tensor gyg = gy.to(kGpu).permute({1, 0}).contiguous().permute({1, 0});
    REQUIRE(xg.strides() == x.strides());
    Tensor out_g = nan_tensor({B, C}, t), gx_g = Tensor::zeros({B, C, H, W}, t, kGpu);
    cuda::gather_cells_forward(xg, rows.to(kGpu), cols.to(kGpu), out_g);
    cuda::gather_cells_backward(gyg, rows.to(kGpu), cols.to(kGpu), gx_g);
    check_bitwise(out_g, out);
    check_bitwise(gx_g, gx);
  }
  Tensor rows = Tensor::from_vector(std::vector<int64_t>{0, 4, 2}, {3});
  Tensor cols = Tensor::from_vector(std::vector<int64_t>{5, 0, 3}, {3});
  check_op_cuda_vs_cpu(
      [&](const std::vector<Tensor>& in) {
        const Device d = in[0].device();
        return gather_cells(in[0], rows.to(d), cols.to(d));
      },
      {randn({3, 5, 5, 6}, 3450, DType::F32)}, tol::kCudaVsCpuF32);
  check_op_cuda_vs_cpu(
      [](const std::vector<Tensor>& in) {
        return concat({in[0], in[1].permute({1, 0})}, 0);
      },
      {randn({2, 3}, 3460, DType::F32), randn({3, 4}, 3461, DType::F32)}, tol::kCudaVsCpuF32);
}
