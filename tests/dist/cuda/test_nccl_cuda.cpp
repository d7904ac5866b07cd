// The NCCL communicator on one rank (the GPU run kit, docs/gpu-run.md: two
// ranks cannot share one GPU under NCCL). Bootstrapped over the
// single-process communicator, it runs the real NCCL calls: an all-reduce and
// a broadcast of device tensors, and the gradient buckets on the NCCL stream.
#include <doctest/doctest.h>

#include "core/cuda/runtime.h"
#include "dist/comm_backends.h"
#include "dist/grad_sync.h"
#include "ops/binary.h"
#include "ops/reduce.h"
#include "tests/support/check.h"
#include "tests/support/skip.h"

using namespace sono;

TEST_CASE("dist: cuda: a 1-rank NCCL all-reduce, broadcast and gradient buckets") {
  SONO_SKIP_UNLESS(cuda::device_count() > 0, "no CUDA device");
  auto comm = dist::make_nccl(dist::make_single_process());
  CHECK(comm->backend() == "nccl");
  CHECK(comm->world_size() == 1);
  const Device dev = Device::parse("cuda:0");
  const std::vector<float> v{1.5f, -2.0f, 3.25f, 0.0f, 7.0f};
  Tensor t = Tensor::from_vector(v, {5}).to(dev);
  comm->allreduce_sum(t, "test all-reduce");
  CHECK(t.to_vector<float>() == v);  // the sum over one rank
  Tensor d = Tensor::from_vector(std::vector<double>{1.0, 2.0}, {2}).to(dev);
  comm->broadcast(d, 0, "test broadcast");
  CHECK(d.to_vector<double>() == std::vector<double>{1.0, 2.0});

  // Gradient buckets on the NCCL stream: weight 0.5 on one rank halves the gradients.
  Tensor w = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {4}).to(dev).set_requires_grad(true);
  w.set_name("w");
  Tensor b = Tensor::from_vector(std::vector<float>{5, 6}, {2}).to(dev).set_requires_grad(true);
  b.set_name("b");
  Tensor unused = Tensor::zeros({3}, DType::F32, dev).set_requires_grad(true);
  unused.set_name("unused");
  dist::GradSync sync(*comm, {w, b, unused}, 8);  // 8 bytes: one bucket per parameter
  Tensor loss = sum(w * w) + sum(b) * 3.0;
  sync.begin(loss, 0.5);
  loss.backward();
  const dist::CommStats st = sync.finish();
  CHECK(st.buckets == 2);
  CHECK(w.grad().to_vector<float>() == std::vector<float>{1, 2, 3, 4});  // 0.5 * 2w
  CHECK(b.grad().to_vector<float>() == std::vector<float>{1.5f, 1.5f});
  CHECK_FALSE(unused.grad().defined());
}
