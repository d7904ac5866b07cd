// AdamW on CUDA (single-tensor and fused multi-tensor kernels) vs the CPU loop.
#include <doctest/doctest.h>

#include <iterator>
#include <string>

#include "optim/adamw.h"
#include "tests/ops/cuda/cuda_check.h"

using namespace sono;
using namespace sono::test;

namespace {

// p, g, m, v with v > 0 as after earlier steps.
struct State4 {
  Tensor p, g, m, v;
  State4(const Shape& s, uint64_t seed)
      : p(randn(s, seed, DType::F32)),
        g(randn(s, seed + 1, DType::F32)),
        m(randn(s, seed + 2, DType::F32, 0.1)),
        v(rand_uniform(s, 1e-4, 1e-2, seed + 3, DType::F32)) {}
  State4 to_gpu() const {
    State4 s = *this;
    s.p = p.to(kGpu), s.g = g.to(kGpu), s.m = m.to(kGpu), s.v = v.to(kGpu);
    return s;
  }
  void check_close_to(const State4& cpu) const {
    CHECK_CLOSE(p, cpu.p, tol::kCudaVsCpuF32);
    CHECK_CLOSE(m, cpu.m, tol::kCudaVsCpuF32);
    CHECK_CLOSE(v, cpu.v, tol::kCudaVsCpuF32);
  }
};

}  // namespace

TEST_CASE("adamw cuda: the single-tensor step matches the CPU update") {
  SKIP_WITHOUT_CUDA();
  uint64_t seed = 700;
  for (const Shape& shape : {Shape{1}, Shape{257}, Shape{64, 3, 3, 3}, Shape{1 << 20}}) {
    CAPTURE(shape_str(shape));
    State4 cpu_s(shape, seed += 10);
    State4 gpu_s = cpu_s.to_gpu();
    for (int64_t step = 1; step <= 3; ++step) {
      cpu::adamw_step(cpu_s.p, cpu_s.g, cpu_s.m, cpu_s.v, 1e-2, 0.9, 0.999, 1e-8, 0.01, step);
      cuda::adamw_step(gpu_s.p, gpu_s.g, gpu_s.m, gpu_s.v, 1e-2, 0.9, 0.999, 1e-8, 0.01, step);
    }
    gpu_s.check_close_to(cpu_s);
  }
}

TEST_CASE("adamw cuda: the fused multi-tensor step updates every element of every tensor") {
  SKIP_WITHOUT_CUDA();
  // Sizes around the chunk boundary (8192), tiny and large, each with its own
  // hyper-parameters and step count.
  const Shape shapes[] = {{1}, {7}, {8191}, {8192}, {8193}, {3, 5000}, {48, 3, 3, 3}, {1 << 19}};
  std::vector<State4> cpu_s, gpu_s;
  std::vector<AdamWItem> items;
  uint64_t seed = 800;
  for (size_t k = 0; k < std::size(shapes); ++k) {
    cpu_s.emplace_back(shapes[k], seed += 10);
    gpu_s.push_back(cpu_s.back().to_gpu());
  }
  for (size_t k = 0; k < cpu_s.size(); ++k) {
    const double lr = 1e-2 * double(k + 1), wd = k % 2 ? 0.0 : 0.05, beta1 = k % 3 ? 0.9 : 0.8;
    const int64_t step = int64_t(k) + 1;
    cpu::adamw_step(cpu_s[k].p, cpu_s[k].g, cpu_s[k].m, cpu_s[k].v, lr, beta1, 0.999, 1e-8, wd, step);
    items.push_back({gpu_s[k].p, gpu_s[k].g, gpu_s[k].m, gpu_s[k].v, lr, beta1, 0.999, 1e-8, wd, step});
  }
  cuda::adamw_step_multi(items);
  for (size_t k = 0; k < cpu_s.size(); ++k) {
    CAPTURE(k);
    gpu_s[k].check_close_to(cpu_s[k]);
  }
}

TEST_CASE("adamw cuda: the optimizer on cuda parameters matches the CPU optimizer") {
  SKIP_WITHOUT_CUDA();
  auto make = [](Device d) {
    std::vector<Tensor> ps;
    const Shape shapes[] = {{32, 16}, {16}, {5}, {3, 3, 3, 3}};
    for (size_t k = 0; k < std::size(shapes); ++k) {
      Tensor t = randn(shapes[k], 900 + k, DType::F32).to(d);
      t.set_requires_grad(true).set_name("p" + std::to_string(k));
      ps.push_back(t);
    }
    return ps;
  };
  std::vector<Tensor> pc = make(Device::cpu()), pg = make(kGpu);
  AdamW oc({ParamGroup{"a", {pc[0], pc[1]}, 1e-2, 1e-2}, ParamGroup{"b", {pc[2], pc[3]}, 3e-3, 3e-3}});
  AdamW og({ParamGroup{"a", {pg[0], pg[1]}, 1e-2, 1e-2}, ParamGroup{"b", {pg[2], pg[3]}, 3e-3, 3e-3}});
  for (int it = 0; it < 4; ++it) {
    oc.zero_grad();
    og.zero_grad();
    for (size_t k = 0; k < pc.size(); ++k) {
      if (k == 2 && it % 2) continue;  // absent gradient: the parameter sits the step out
      Tensor g = randn(pc[k].shape(), 950 + 10 * it + k, DType::F32);
      pc[k].set_grad(g);
      pg[k].set_grad(g.to(kGpu));
    }
    oc.step();
    og.step();
  }
  for (size_t k = 0; k < pc.size(); ++k) {
    CAPTURE(k);
    CHECK(pg[k].device() == kGpu);
    CHECK_CLOSE(pg[k], pc[k], tol::kCudaVsCpuF32);
    CHECK(og.state().at(pg[k].name()).step == oc.state().at(pc[k].name()).step);
  }
}

TEST_CASE("adamw cuda: the fused step reuses its table, re-uploads it when it changes, and splits many scalar sets") {
  SKIP_WITHOUT_CUDA();
  // 70 tensors, each with its own step count: more scalar sets than one
  // launch carries (64), so the step takes two launches.
  std::vector<State4> cpu_s, gpu_s;
  for (int k = 0; k < 70; ++k) {
    cpu_s.emplace_back(Shape{int64_t(1 + 97 * k)}, 1000 + 10 * uint64_t(k));
    gpu_s.push_back(cpu_s.back().to_gpu());
  }
  for (int round = 0; round < 4; ++round) {
    CAPTURE(round);
    // Round 1 repeats round 0's table (same tensors, steps advanced in step):
    // no upload, new kernel arguments. Round 2 gives every tensor a fresh
    // gradient tensor (new addresses): a new table. Round 3 drops a tensor.
    if (round == 2)
      for (size_t k = 0; k < cpu_s.size(); ++k) {
        cpu_s[k].g = randn(cpu_s[k].g.shape(), 2000 + k, DType::F32);
        gpu_s[k].g = cpu_s[k].g.to(kGpu);
      }
    std::vector<AdamWItem> items;
    for (size_t k = 0; k < cpu_s.size(); ++k) {
      if (round == 3 && k == 5) continue;
      const int64_t step = int64_t(k) + 1 + round;
      cpu::adamw_step(cpu_s[k].p, cpu_s[k].g, cpu_s[k].m, cpu_s[k].v, 1e-2, 0.9, 0.999, 1e-8, 0.01, step);
      items.push_back({gpu_s[k].p, gpu_s[k].g, gpu_s[k].m, gpu_s[k].v, 1e-2, 0.9, 0.999, 1e-8, 0.01, step});
    }
    cuda::adamw_step_multi(items);
    for (size_t k = 0; k < cpu_s.size(); ++k) {
      CAPTURE(k);
      gpu_s[k].check_close_to(cpu_s[k]);
    }
  }
}
