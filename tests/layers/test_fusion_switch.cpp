// The fused-ops switch (layers/fusion.h): SONO_FUSED_OPS values, the scope,
// and the layers taking the unfused chains when it is off.
#include <doctest/doctest.h>

#include "layers/fusion.h"
#include "layers/norm.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::nn;

TEST_CASE("fusion switch: SONO_FUSED_OPS is 1 or unset (fused) or 0 (unfused) - other values are refused") {
  CHECK(parse_fused_ops(nullptr));
  CHECK(parse_fused_ops("1"));
  CHECK_FALSE(parse_fused_ops("0"));
  CHECK_THROWS_WITH_AS(parse_fused_ops("yes"),
                       doctest::Contains("SONO_FUSED_OPS: must be 0 (unfused ops) or 1 (fused ops, the default), got "
                                         "'yes'"),
                       Error);
  CHECK_THROWS_AS(parse_fused_ops(""), Error);
}

TEST_CASE("fusion switch: the scope sets and restores it, and BatchNorm2d::forward_silu follows it") {
  const bool before = fused_ops_enabled();
  BatchNorm2d bn(3, 1e-3, 0.01);
  Tensor x = test::randn({2, 3, 4, 4}, 1);
  bn.to(DType::F64);
  Tensor x1 = x.detach().set_requires_grad(true), x2 = x.detach().set_requires_grad(true);
  {
    FusedOpsScope off(false);
    CHECK_FALSE(fused_ops_enabled());
    Tensor y = bn.forward_silu(x1);
    REQUIRE(y.grad_fn() != nullptr);
    CHECK(std::string(y.grad_fn()->name()) == "ActivationBackward");
  }
  CHECK(fused_ops_enabled() == before);
  FusedOpsScope on(true);
  Tensor y = bn.forward_silu(x2);
  CHECK(std::string(y.grad_fn()->name()) == "BatchNormSiluBackward");
  CHECK(bn.num_batches_tracked().item() == 2);  // both paths count the batch
}
