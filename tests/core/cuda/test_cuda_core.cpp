// CUDA backend vs CPU on fresh random inputs. Without a CUDA device every
// GPU test prints why it is skipped; the missing-device error is tested on
// every machine.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "core/cuda/allocator.h"
#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#include "core/kernels.h"
#include "ops/activation.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

bool cuda_available() { return cuda::device_count() > 0; }

#define SKIP_WITHOUT_CUDA()                    \
  if (!cuda_available()) {                     \
    MESSAGE("skipped: no CUDA device");        \
    return;                                    \
  }

const Device kGpu = Device::cuda(0);
const DType kAllDtypes[] = {DType::F32, DType::F64, DType::BF16, DType::I64, DType::I32, DType::U8};

// Random values representable in every dtype's range; non-negative when they
// will be converted to u8 (negative float -> unsigned is undefined in C++).
Tensor random_of(DType t, const Shape& shape, bool non_negative, uint64_t seed) {
  const double lo = non_negative ? 0 : -100;
  if (is_floating(t)) return rand_uniform(shape, lo, 120, seed, t);
  return rand_int(shape, int64_t(lo), 120, seed).to(t);
}

// The exact values of a tensor (host, row-major, as double).
std::vector<double> exact(const Tensor& t) { return values(t); }

}  // namespace

TEST_CASE("cuda: requesting a missing device names it and the device count") {
  const int n = cuda::device_count();
  const std::string expected = str_cat("cuda:", n, " requested but ", n, " CUDA device");
  CHECK_THROWS_WITH_AS(Tensor::zeros({2}, DType::F32, Device::cuda(n)), doctest::Contains(expected), Error);
  CHECK_THROWS_WITH_AS(Tensor::ones_like_placeholder_never_used, doctest::Contains(""), Error);
}
