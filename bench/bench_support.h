#pragma once
// Shared by the model and per-op benchmarks of sono_bench: configuration from
// the environment, the devices a workload runs on, a timed loop (wall clock
// on the CPU, CUDA events on Sono's stream), counters, random inputs and the
// check of a result against a plain reference before timing.
//
// Environment (Google Benchmark's main parses only its own flags):
//   SONO_BENCH_BATCH       CPU batch (default 2, as docs/reference-model.md 10)
//   SONO_BENCH_CUDA_BATCH  CUDA batch (default 20, the training batch)
//   SONO_BENCH_SIZE        image side of the model workloads (default 256)
//   SONO_BENCH_ENCODER     encoder of the model workloads (default efficientnet-b4)
//   SONO_BENCH_ITERS       fixed iterations per repetition (default: Google
//                          Benchmark's min-time rule); tools/bench_compare.py
//                          sets 1 and asks for --benchmark_repetitions.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/precision.h"
#include "core/tensor.h"

namespace sono::bench {

int64_t env_int(const char* name, int64_t fallback);
std::string env_string(const char* name, const std::string& fallback);
int64_t cpu_batch();
int64_t cuda_batch();

// A device a workload is registered for, with its default batch; "cuda" only
// in a CUDA build (it skips at run time without a GPU).
struct Target {
  const char* name;  // "cpu" or "cuda": the second part of benchmark names
  Device device;
  int64_t batch;
};
std::vector<Target> targets();

// Millisecond unit, manual time (set by timed_loop) and SONO_BENCH_ITERS.
benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b);

// Reports "no CUDA device" and returns true for a cuda target without a GPU.
bool skip_unavailable(benchmark::State& state, Device device);

void synchronize(Device device);

// Runs body once per iteration and sets the iteration's time: wall clock on
// the CPU; on CUDA the span between events recorded on Sono's stream before
// and after the body (kernels, launch gaps and syncs the body makes).
void timed_loop(benchmark::State& state, Device device, const std::function<void()>& body);

// The timing loops of an op: the forward alone under no-grad, or the forward
// then backward(grad) through the autograd engine, dropping the leaves'
// gradients after each iteration (a training step does the same).
void time_forward(benchmark::State& state, Device device, const std::function<Tensor()>& forward);
void time_forward_backward(benchmark::State& state, Device device, const std::function<Tensor()>& forward,
                           const Tensor& grad, const std::vector<Tensor>& leaves);

// Counters computed from per-iteration amounts (rates use the manual time).
void set_rate(benchmark::State& state, const char* name, double per_iteration);
// "ms_per_<what>": milliseconds per item, `items` per iteration.
void set_ms_per(benchmark::State& state, const char* name, double items);
inline void set_gflops(benchmark::State& state, double flops) { set_rate(state, "GFLOP/s", flops * 1e-9); }
inline void set_gbytes(benchmark::State& state, double bytes) { set_rate(state, "GB/s", bytes * 1e-9); }

// N(0, 1) * scale (f32), or integers in [0, high) (i64), made on the host
// from `seed` and moved to `device`.
Tensor randn(const Shape& shape, uint64_t seed, Device device, double scale = 1.0);
Tensor randint(const Shape& shape, int64_t high, uint64_t seed, Device device);
std::vector<double> host(const Tensor& t);  // any dtype/device -> host doubles

// "" when |got - want| <= atol + rtol * |want| everywhere, else a message
// naming the worst element; `what` prefixes it.
std::string compare(const char* what, const std::vector<double>& got, const std::vector<double>& want, double rtol,
                    double atol);
bool all_finite(const Tensor& t);

// Validation result of a workload, checked once before its first timing:
// SkipWithError with the message and returns false when it is not empty.
bool report_validation(benchmark::State& state, const std::string& error);
// Google Benchmark calls a benchmark function several times (to size the
// iteration count, and per repetition): runs check() only the first time
// `key` is seen, remembers its result and reports it as above.
bool validated_once(benchmark::State& state, const std::string& key, const std::function<std::string()>& check);

// The process precision SONO_BENCH_PRECISION (fp32, the default; tf32;
// bf16) for the time of one model workload; the op workloads keep theirs. A
// bad value throws sono::Error naming the variable.
class ModelPrecision {
 public:
  ModelPrecision() : previous_(precision()) {
    set_precision(parse_precision(env_string("SONO_BENCH_PRECISION", "fp32"), "SONO_BENCH_PRECISION"));
  }
  ~ModelPrecision() { set_precision(previous_); }
  ModelPrecision(const ModelPrecision&) = delete;
  ModelPrecision& operator=(const ModelPrecision&) = delete;

 private:
  Precision previous_;
};

}  // namespace sono::bench
