// Batch norm + SiLU on CUDA vs the CPU kernels, on fresh random inputs:
// output, saved and running statistics, and every gradient.
#include <doctest/doctest.h>

#include "ops/batch_norm_silu.h"
#include "ops/binary.h"
#include "tests/ops/cuda/batch_norm_check.h"

using namespace sono;
using namespace sono::test;

TEST_CASE("batch_norm_silu cuda: forward, statistics and backward match the CPU") {
  SKIP_WITHOUT_CUDA();
  check_batch_norm_backends({cpu::batch_norm_silu_forward, cpu::batch_norm_silu_backward},
                            {cuda::batch_norm_silu_forward, cuda::batch_norm_silu_backward}, 5200, 1.0);
}

TEST_CASE("batch_norm_silu cuda: the public op matches the CPU with gradients on a strided input") {
  SKIP_WITHOUT_CUDA();
  check_batch_norm_public_op(&batch_norm_silu, 5300);
}
