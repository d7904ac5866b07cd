#include <doctest/doctest.h>
#include "core/parallel.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>

#include "ops/ops.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

// CI runs the suite with one and with two OpenMP threads; these cases run the
// parallel kernels with two and three threads against one in one process.
// Sono's own kernels split their work so that each sum is taken in the same
// order whatever the thread count (per-plane and per-block partial sums
// combined in a fixed order), so their results must be bit-identical. GEMMs
// (ops/cpu/gemm.cpp) run as one BLAS call on one thread and as fixed blocks,
// one single-threaded call each, on more: bit-identical from 2 threads on,
// within f32 rounding of the tensor's scale between 1 and 2.
namespace {

using Workload = std::function<std::vector<Tensor>()>;

// Runs `work` with 1 thread, then with 2 and 3, and hands each result to
// `compare` with its single-threaded counterpart.
void with_threads(const Workload& work, const std::function<void(const Tensor&, const Tensor&, int, size_t)>& compare) {
  const int before = num_threads();
  set_num_threads(1);
  const std::vector<Tensor> ref = work();
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    const std::vector<Tensor> got = work();
    REQUIRE(got.size() == ref.size());
    for (size_t i = 0; i < ref.size(); ++i) compare(got[i], ref[i], threads, i);
  }
  set_num_threads(before);
}

// Everything but the GEMMs: depthwise conv (stride 1 and 2), activations, batch and group
// norm, squeeze-excite, pooling, upsampling, softmax and the losses, forward
// and backward, each above its parallel threshold (core/parallel.h: 65536
// elements; the 96x1000 rows too).
std::vector<Tensor> own_kernels() {
  Tensor x = randn({4, 32, 40, 40}, 1, DType::F32).set_requires_grad(true);
  Tensor dw = randn({32, 1, 5, 5}, 2, DType::F32, 0.2).set_requires_grad(true);
  Tensor gamma = rand_uniform({32}, 0.5, 1.5, 4, DType::F32).set_requires_grad(true);
  Tensor beta = randn({32}, 5, DType::F32).set_requires_grad(true);
  Tensor rm = Tensor::zeros({32}), rv = Tensor::full({32}, 1.0);
  Tensor y = silu(conv2d(x, dw, Tensor(), Conv2dOptions::symmetric(2, 1, 32)));
  // Stride 2 with the model's TF-"same" pads (1 before, 2 after): the strided
  // input-gradient gather and the weight gradient at stride 2.
  Conv2dOptions strided = Conv2dOptions::symmetric(1, 2, 32);
  strided.pad_top = strided.pad_left = 1;
  strided.pad_bottom = strided.pad_right = 2;
  Tensor z = conv2d(x, dw, Tensor(), strided);
  y = batch_norm(y, gamma, beta, rm, rv, true, 0.01, 1e-3);
  y = mul(y, sigmoid(mean(y, {2, 3}, true)));
  y = relu(add(y, global_avg_pool2d(y)));
  Tensor logits = upsample_bilinear2d(y.slice(1, 0, 3), 80, 80, false);
  Tensor rows = randn({96, 1000}, 7, DType::F32).set_requires_grad(true);
  Tensor loss = dice_loss(logits, rand_int({4, 80, 80}, 0, 3, 6)) +
                sum(group_norm(y, 4, Tensor(), Tensor(), 1e-5)) * 1e-4 +
                cross_entropy(rows, rand_int({96}, 0, 1000, 8)) +
                mse_loss(softmax(rows, 1), rand_uniform({96, 1000}, 0, 1e-3, 9, DType::F32)) +
                mean(x.reshape({-1})) * 1e-2 +  // one long row: fixed-size partial sums
                sum(mul(z, z)) * 1e-3;
  loss.backward();
  return {loss.detach(), y.detach(), x.grad(), dw.grad(), gamma.grad(), beta.grad(), rm, rv, rows.grad()};
}

// The GEMM paths: pointwise and dense convolutions (the decoder's 8x8
// level and the stem included) and a linear layer as in the classification head.
std::vector<Tensor> gemm_paths() {
  Tensor x = randn({4, 32, 40, 40}, 11, DType::F32).set_requires_grad(true);
  Tensor pw = randn({48, 32, 1, 1}, 12, DType::F32, 0.2).set_requires_grad(true);
  Tensor small = randn({2, 160, 8, 8}, 13, DType::F32).set_requires_grad(true);
  Tensor w3 = randn({128, 160, 3, 3}, 14, DType::F32, 0.03).set_requires_grad(true);
  Tensor feat = randn({2, 1792}, 15, DType::F32).set_requires_grad(true);
  Tensor fc = randn({1000, 1792}, 16, DType::F32, 0.03).set_requires_grad(true);
  Tensor fc_b = randn({1000}, 17, DType::F32).set_requires_grad(true);
  Tensor a = conv2d(x, pw, Tensor(), Conv2dOptions{});
  // The stem's shape (3 -> 48, 3x3 stride 2, pads 0/1): short-depth im2col chunks.
  Tensor img = randn({2, 3, 64, 64}, 18, DType::F32).set_requires_grad(true);
  Tensor stem = randn({48, 3, 3, 3}, 19, DType::F32, 0.2).set_requires_grad(true);
  Conv2dOptions tf_same = Conv2dOptions::symmetric(0, 2);
  tf_same.pad_bottom = tf_same.pad_right = 1;
  Tensor s = conv2d(img, stem, Tensor(), tf_same);
  Tensor b = conv2d(small, w3, Tensor(), Conv2dOptions::symmetric(1, 1, 1));
  Tensor c = linear(feat, fc, fc_b);
  Tensor loss = sum(mul(a, a)) * 1e-3 + sum(mul(b, b)) * 1e-3 + sum(mul(c, c)) * 1e-3 + sum(mul(s, s)) * 1e-3;
  loss.backward();
  return {loss.detach(), a.detach(),  b.detach(), c.detach(),  x.grad(),   pw.grad(),  small.grad(),
          w3.grad(),     feat.grad(), fc.grad(),  fc_b.grad(), s.detach(), img.grad(), stem.grad()};
}

}  // namespace

TEST_CASE("parallel kernels without BLAS give bit-identical results with 1, 2 and 3 threads") {
  with_threads(own_kernels, [](const Tensor& got, const Tensor& ref, int threads, size_t i) {
    INFO("output ", i, " with ", threads, " threads");
    CHECK_CLOSE(got, ref, Tolerance{0.0, 0.0});
  });
}

TEST_CASE("GEMM paths (convolutions, linear): bit-identical at 2 and 3 threads, f32 rounding against 1") {
  // OpenBLAS's own threading partitioned by thread count and rounded
  // differently at the edges (the linear layer's input gradient moved by
  // ~2e-7 of its scale between 2 and 3 threads).
  const int before = num_threads();
  set_num_threads(2);
  const std::vector<Tensor> two = gemm_paths();
  set_num_threads(3);
  const std::vector<Tensor> three = gemm_paths();
  set_num_threads(before);
  for (size_t i = 0; i < two.size(); ++i) {
    INFO("output ", i, ": 3 threads vs 2");
    CHECK_CLOSE(three[i], two[i], Tolerance{0.0, 0.0});
  }
  with_threads(gemm_paths, [](const Tensor& got, const Tensor& ref, int threads, size_t i) {
    const std::vector<double> a = values(got), e = values(ref);
    REQUIRE(a.size() == e.size());
    double diff = 0, scale = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      const double d = std::fabs(a[k] - e[k]);
      diff = std::isfinite(d) ? std::max(diff, d) : INFINITY;
      scale = std::max(scale, std::fabs(e[k]));
    }
    // <= 1792 products per dot: another blocking moves a sum by a few f32
    // ulps of its scale, far below 1e-5.
    CHECK_MESSAGE(diff <= 1e-5 * scale, "output ", i, " with ", threads, " threads: max diff ", diff, " vs scale ",
                  scale);
  });
}

// The pool's threads are the only ones: OpenBLAS's OpenMP build would start a
// team of its own on any thread whose OpenMP thread count is above 1 (a pool
// worker's is, at start), which made 2-thread results differ from run to run
// (its partition depends on which threads it gets) and oversubscribed the cores.
TEST_CASE("GEMM paths: repeatable at 2 and 3 threads, and no BLAS threads beside the pool's") {
  const int before = num_threads();
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    const std::vector<Tensor> first = gemm_paths(), second = gemm_paths();
    for (size_t i = 0; i < first.size(); ++i) {
      INFO("output ", i, " at ", threads, " threads, second run vs first");
      CHECK_CLOSE(second[i], first[i], Tolerance{0.0, 0.0});
    }
    int tasks = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) tasks += e.is_directory();
    CHECK_MESSAGE(tasks <= threads, tasks, " threads in the process with a pool of ", threads);
  }
  set_num_threads(before);
}
