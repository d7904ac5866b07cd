#include "bench/bench_support.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <random>

#if SONO_WITH_CUDA
#include <cuda_runtime_api.h>

#include "core/cuda/context.h"
#include "core/cuda/runtime.h"
#endif

#include "core/autograd.h"

namespace sono::bench {

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  long long x = std::strtoll(v, &end, 10);
  SONO_CHECK(end && *end == '\0' && x > 0, "sono_bench", name, "=", v, " is not a positive integer");
  return int64_t(x);
}

std::string env_string(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

int64_t cpu_batch() { return env_int("SONO_BENCH_BATCH", 2); }
int64_t cuda_batch() { return env_int("SONO_BENCH_CUDA_BATCH", 20); }

std::vector<Target> targets() {
  std::vector<Target> t{{"cpu", Device::cpu(), cpu_batch()}};
#if SONO_WITH_CUDA
  t.push_back({"cuda", Device::cuda(0), cuda_batch()});
#endif
  return t;
}

benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kMillisecond)->UseManualTime();
  if (int64_t iters = env_int("SONO_BENCH_ITERS", 0)) b->Iterations(iters);
  return b;
}

bool skip_unavailable(benchmark::State& state, Device device) {
  if (device.is_cpu()) return false;
#if SONO_WITH_CUDA
  if (cuda::device_count() > device.index) return false;
#endif
  state.SkipWithError("no CUDA device");
  return true;
}

void synchronize(Device device) {
#if SONO_WITH_CUDA
  if (device.is_cuda()) cuda::synchronize(device.index);
#endif
}

void timed_loop(benchmark::State& state, Device device, const std::function<void()>& body) {
  if (device.is_cpu()) {
    for (auto _ : state) {
      auto t0 = std::chrono::steady_clock::now();
      body();
      state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return;
  }
#if SONO_WITH_CUDA
  cudaStream_t stream = cuda::current_stream(device.index);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  for (auto _ : state) {
    cudaEventRecord(start, stream);
    body();
    cudaEventRecord(stop, stream);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(double(ms) * 1e-3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
#endif
}

void time_forward(benchmark::State& state, Device device, const std::function<Tensor()>& forward) {
  NoGradGuard no_grad;
  timed_loop(state, device, [&] { benchmark::DoNotOptimize(forward().raw_data()); });
}

void time_forward_backward(benchmark::State& state, Device device, const std::function<Tensor()>& forward,
                           const Tensor& grad, const std::vector<Tensor>& leaves) {
  timed_loop(state, device, [&] {
    forward().backward(grad);
    for (const Tensor& t : leaves) t.reset_grad();
  });
}

void set_rate(benchmark::State& state, const char* name, double per_iteration) {
  state.counters[name] = benchmark::Counter(per_iteration * double(state.iterations()), benchmark::Counter::kIsRate);
}

void set_ms_per(benchmark::State& state, const char* name, double items) {
  // An inverted rate is seconds per unit; counting items in thousands makes it ms per item.
  state.counters[name] = benchmark::Counter(items * 1e-3 * double(state.iterations()),
                                            benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

Tensor randn(const Shape& shape, uint64_t seed, Device device, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.f, float(scale));
  std::vector<float> v(size_t(shape_numel(shape)));
  for (auto& e : v) e = dist(rng);
  return Tensor::from_vector(v, shape).to(device);
}

Tensor randint(const Shape& shape, int64_t high, uint64_t seed, Device device) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> v(size_t(shape_numel(shape)));
  for (auto& e : v) e = int64_t(rng() % uint64_t(high));
  return Tensor::from_vector(v, shape).to(device);
}

std::vector<double> host(const Tensor& t) {
  return t.detach().to(Device::cpu()).to(DType::F64).contiguous().to_vector<double>();
}

std::string compare(const char* what, const std::vector<double>& got, const std::vector<double>& want, double rtol,
                    double atol) {
  if (got.size() != want.size()) return str_cat(what, ": ", got.size(), " values, reference ", want.size());
  size_t worst = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double excess = std::abs(got[i] - want[i]) - (atol + rtol * std::abs(want[i]));
    if (!(excess <= worst_excess)) {  // also catches NaN
      worst_excess = std::isnan(excess) ? INFINITY : excess;
      worst = i;
    }
  }
  if (worst_excess <= 0) return "";
  return str_cat(what, ": element ", worst, " is ", got[worst], ", reference ", want[worst]);
}

bool all_finite(const Tensor& t) {
  for (double v : host(t))
    if (!std::isfinite(v)) return false;
  return true;
}

bool report_validation(benchmark::State& state, const std::string& error) {
  if (error.empty()) return true;
  state.SkipWithError(("validation failed: " + error).c_str());
  return false;
}

bool validated_once(benchmark::State& state, const std::string& key, const std::function<std::string()>& check) {
  static std::map<std::string, std::string> results;
  auto it = results.find(key);
  if (it == results.end()) it = results.emplace(key, check()).first;
  return report_validation(state, it->second);
}

}  // namespace sono::bench
