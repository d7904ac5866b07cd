// sync_batch_norm (ops/sync_batch_norm.h) against batch_norm (ops/norm.h,
// itself tested against a plain loop in test_norm.cpp): on one "rank" it is
// training-mode batch_norm; split over two ranks (two threads whose reducer
// sums through a barrier) it is batch_norm of the whole batch, the weight
// and bias gradients being the ranks' parts. Backward by finite differences.
#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "ops/binary.h"
#include "ops/norm.h"
#include "ops/reduce.h"
#include "ops/sync_batch_norm.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

std::shared_ptr<BatchNormReducer> one_rank() {
  auto r = std::make_shared<BatchNormReducer>();
  r->allreduce_sum = [](const Tensor&) {};
  return r;
}

// A reusable barrier of two threads (C++17 has no std::barrier).
class Barrier2 {
 public:
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t gen = generation_;
    if (++waiting_ == 2) {
      waiting_ = 0;
      ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != gen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_ = 0;
  int64_t generation_ = 0;
};

// Two threads' in-place sums through shared slots and a barrier.
struct TwoRanks {
  Barrier2 sync;
  Tensor slot[2];
  std::shared_ptr<BatchNormReducer> reducer(int rank, double weight) {
    auto r = std::make_shared<BatchNormReducer>();
    r->weight = weight;
    r->allreduce_sum = [this, rank](const Tensor& t) {
      slot[rank] = t.clone();
      sync.arrive_and_wait();
      const Tensor total = slot[0] + slot[1];
      sync.arrive_and_wait();
      t.copy_(total);
    };
    return r;
  }
};

}  // namespace

TEST_CASE("sync_batch_norm on one rank is training-mode batch_norm") {
  const Tensor x = randn({3, 4, 5, 5}, 1, DType::F64, 2.0) + 3.0;
  const Tensor w = randn({4}, 2, DType::F64).set_requires_grad(true);
  const Tensor b = randn({4}, 3, DType::F64).set_requires_grad(true);
  const Tensor xs = x.clone().set_requires_grad(true), xr = x.clone().set_requires_grad(true);
  Tensor rm1 = Tensor::zeros({4}, DType::F64), rv1 = Tensor::full({4}, 1.0, DType::F64);
  Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
  const Tensor gy = randn({3, 4, 5, 5}, 4, DType::F64);
  const Tensor ys = sync_batch_norm(xs, w, b, rm1, rv1, 0.1, 1e-5, one_rank());
  const Tensor yr = batch_norm(xr, w, b, rm2, rv2, true, 0.1, 1e-5);
  CHECK_CLOSE(ys, yr, tol::kForwardF64);
  CHECK_CLOSE(rm1, rm2, tol::kForwardF64);
  CHECK_CLOSE(rv1, rv2, tol::kForwardF64);
  sum(ys * gy).backward();
  const Tensor gws = w.grad().clone(), gbs = b.grad().clone();
  w.reset_grad();
  b.reset_grad();
  sum(yr * gy).backward();
  CHECK_CLOSE(xs.grad(), xr.grad(), tol::kForwardF64);
  CHECK_CLOSE(gws, w.grad(), tol::kForwardF64);
  CHECK_CLOSE(gbs, b.grad(), tol::kForwardF64);
}

TEST_CASE("sync_batch_norm backward matches finite differences (f64)") {
  const Tensor x = randn({2, 3, 4, 4}, 5, DType::F64).set_requires_grad(true);
  const Tensor w = randn({3}, 6, DType::F64).set_requires_grad(true);
  const Tensor b = randn({3}, 7, DType::F64).set_requires_grad(true);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return sync_batch_norm(in[0], in[1], in[2], Tensor(), Tensor(), 0.1, 1e-5, one_rank());
      },
      {x, w, b});
}

TEST_CASE("sync_batch_norm over two ranks of uneven shards is batch_norm of the whole batch") {
  // 5 samples: rank 0 holds 3, rank 1 holds 2; each rank's loss is the mean
  // over its own samples, as data-parallel training has it.
  const int64_t B = 5, lo[2] = {0, 3}, hi[2] = {3, 5};
  const Tensor x = randn({B, 3, 4, 4}, 8, DType::F64, 1.5) - 2.0;
  const Tensor w0 = randn({3}, 9, DType::F64), b0 = randn({3}, 10, DType::F64);
  const Tensor r = randn({B, 3, 4, 4}, 11, DType::F64);  // loss = mean over samples of sum(y * r)

  // The whole batch on one process.
  const Tensor xw = x.clone().set_requires_grad(true);
  const Tensor ww = w0.clone().set_requires_grad(true), bw = b0.clone().set_requires_grad(true);
  Tensor rm = Tensor::zeros({3}, DType::F64), rv = Tensor::full({3}, 1.0, DType::F64);
  const Tensor yw = batch_norm(xw, ww, bw, rm, rv, true, 0.1, 1e-5);
  mul_scalar(sum(yw * r), 1.0 / double(B)).backward();

  TwoRanks ranks;
  Tensor y[2], gx[2], gw[2], gb[2], rms[2], rvs[2];
  auto rank = [&](int k) {
    const Tensor xs = x.slice(0, lo[k], hi[k]).contiguous().set_requires_grad(true);
    const Tensor ws = w0.clone().set_requires_grad(true), bs = b0.clone().set_requires_grad(true);
    rms[k] = Tensor::zeros({3}, DType::F64);
    rvs[k] = Tensor::full({3}, 1.0, DType::F64);
    const double share = double(hi[k] - lo[k]) / double(B);
    y[k] = sync_batch_norm(xs, ws, bs, rms[k], rvs[k], 0.1, 1e-5, ranks.reducer(k, share));
    const Tensor rs = r.slice(0, lo[k], hi[k]).contiguous();
    mul_scalar(sum(y[k] * rs), 1.0 / double(hi[k] - lo[k])).backward();
    gx[k] = xs.grad();
    gw[k] = ws.grad();
    gb[k] = bs.grad();
  };
  std::thread t1(rank, 1);
  rank(0);
  t1.join();
  for (int k = 0; k < 2; ++k) {
    CAPTURE(k);
    const double share = double(hi[k] - lo[k]) / double(B);
    CHECK_CLOSE(y[k], yw.detach().slice(0, lo[k], hi[k]).contiguous(), tol::kForwardF64);
    CHECK_CLOSE(rms[k], rm, tol::kForwardF64);
    CHECK_CLOSE(rvs[k], rv, tol::kForwardF64);
    // A rank's input gradient is 1/share times the whole batch's (its loss is its own mean).
    CHECK_CLOSE(mul_scalar(gx[k], share), xw.grad().slice(0, lo[k], hi[k]).contiguous(), tol::kForwardF64);
  }
  // Weighted by the shares, the ranks' weight and bias gradients add up to the whole batch's.
  const double s0 = 3.0 / 5.0, s1 = 2.0 / 5.0;
  CHECK_CLOSE(mul_scalar(gw[0], s0) + mul_scalar(gw[1], s1), ww.grad(), tol::kForwardF64);
  CHECK_CLOSE(mul_scalar(gb[0], s0) + mul_scalar(gb[1], s1), bw.grad(), tol::kForwardF64);
}
