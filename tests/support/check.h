#pragma once
// Test helpers: random inputs, element-wise comparison, gradient checking.
#include <functional>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/tensor.h"
#include "tests/support/tolerances.h"

namespace sono::test {

// Fresh random tensors (never zeros); seeds make failures reproducible.
Tensor randn(const Shape& shape, uint64_t seed, DType dtype = DType::F64, double scale = 1.0);
Tensor rand_uniform(const Shape& shape, double lo, double hi, uint64_t seed, DType dtype = DType::F64);
Tensor rand_int(const Shape& shape, int64_t lo, int64_t hi_exclusive, uint64_t seed);  // i64

struct CheckResult {
  bool ok = true;
  std::string report;  // max errors and the worst element when !ok
};

// Element-wise closeness with NaN/Inf never passing; shapes must match.
CheckResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol);

// Gradient check by central differences in f64. `fn` maps the inputs to one
// output; every input with requires_grad is checked. The scalar under test is
// sum(fn(inputs) * R) with R a fixed random tensor, so per-element errors
// cannot cancel.
struct GradcheckOptions {
  double step = tol::kGradcheckStep;
  Tolerance tol = tol::kGradcheckF64;
  uint64_t seed = 12345;
};
using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;
CheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});

// Copies a tensor's values to a host double vector in row-major order.
std::vector<double> values(const Tensor& t);

}  // namespace sono::test

// Variadic so braced lists and lambdas with commas pass through intact.
#define CHECK_CLOSE(...)                            \
  do {                                              \
    auto _r = ::sono::test::all_close(__VA_ARGS__); \
    CHECK_MESSAGE(_r.ok, _r.report);                \
  } while (0)

#define CHECK_GRADCHECK(...)                        \
  do {                                              \
    auto _r = ::sono::test::gradcheck(__VA_ARGS__); \
    CHECK_MESSAGE(_r.ok, _r.report);                \
  } while (0)
