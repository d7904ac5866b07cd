#include <doctest/doctest.h>
#include <omp.h>

#include "ops/ops.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

// CI runs each test process with one OpenMP thread; this case runs the
// parallel kernels with two and three threads so races and thread-count
// dependent sums would show against the single-threaded result.
namespace {
std::vector<Tensor> workload() {
  Tensor x = randn({4, 32, 40, 40}, 1, DType::F32).set_requires_grad(true);
  Tensor dw = randn({32, 1, 5, 5}, 2, DType::F32, 0.2).set_requires_grad(true);
  Tensor pw = randn({48, 32, 1, 1}, 3, DType::F32, 0.2).set_requires_grad(true);
  Tensor gamma = rand_uniform({48}, 0.5, 1.5, 4, DType::F32).set_requires_grad(true);
  Tensor beta = randn({48}, 5, DType::F32).set_requires_grad(true);
  Tensor rm = Tensor::zeros({48}), rv = Tensor::full({48}, 1.0);
  Tensor y = silu(conv2d(x, dw, Tensor(), Conv2dOptions::symmetric(2, 1, 32)));
  y = batch_norm(conv2d(y, pw, Tensor(), Conv2dOptions{}), gamma, beta, rm, rv, true, 0.01, 1e-3);
  y = mul(y, sigmoid(mean(y, {2, 3}, true)));
  Tensor logits = upsample_bilinear2d(y.slice(1, 0, 3), 80, 80, true);
  Tensor loss =
      dice_loss(logits, rand_int({4, 80, 80}, 0, 3, 6)) + sum(group_norm(y, 4, Tensor(), Tensor(), 1e-5)) * 1e-4;
  loss.backward();
  return {loss.detach(), y.detach(), x.grad(), dw.grad(), pw.grad(), gamma.grad(), beta.grad(), rm, rv};
}
}  // namespace

TEST_CASE("parallel kernels give the single-threaded results with 2 and 3 threads") {
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  auto ref = workload();
  for (int threads : {2, 3}) {
    omp_set_num_threads(threads);
    auto got = workload();
    for (size_t i = 0; i < ref.size(); ++i) CHECK_CLOSE(got[i], ref[i], Tolerance{1e-5, 1e-6});
  }
  omp_set_num_threads(before);
}
