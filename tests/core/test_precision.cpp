// The process-wide float32 math setting (core/precision.h).
#include <doctest/doctest.h>

#include "core/precision.h"
#include "tests/support/check.h"

using namespace sono;

TEST_CASE("precision: strict fp32 until set, names round trip, unknown values name the option") {
  CHECK(precision() == Precision::FP32);  // the parity and CUDA-vs-CPU tests rely on this default
  for (Precision p : {Precision::FP32, Precision::TF32, Precision::BF16})
    CHECK(parse_precision(precision_name(p)) == p);
  CHECK(std::string(precision_name(Precision::FP32)) == "fp32");
  CHECK(std::string(precision_name(Precision::TF32)) == "tf32");
  CHECK(std::string(precision_name(Precision::BF16)) == "bf16");
  CHECK_THROWS_WITH_AS(parse_precision("fp16", "--precision"),
                       doctest::Contains("--precision: unknown precision 'fp16' (expected fp32, tf32 or bf16)"), Error);
  CHECK_THROWS_AS(parse_precision("TF32"), Error);  // exact names only
  CHECK_THROWS_AS(parse_precision(""), Error);
  set_precision(Precision::TF32);
  CHECK(precision() == Precision::TF32);
  set_precision(Precision::FP32);
  CHECK(precision() == Precision::FP32);
}

TEST_CASE("precision: tf32 has no effect on the CPU kernels") {
  Tensor a = test::randn({33, 47}, 5, DType::F32), b = test::randn({33, 47}, 6, DType::F32);
  a.add_(b, 0.25);  // any kernel: the CPU never reads the setting
  const std::vector<double> fp32 = test::values(a);
  Tensor a2 = test::randn({33, 47}, 5, DType::F32);
  set_precision(Precision::TF32);
  a2.add_(b, 0.25);
  set_precision(Precision::FP32);
  CHECK(test::values(a2) == fp32);
}
