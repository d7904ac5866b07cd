// The backend contract (core/backend.h): the one "no CUDA backend" error.
#include <doctest/doctest.h>

#include "core/backend.h"

using namespace sono;

TEST_CASE("backend: cuda work without the CUDA backend raises the one error") {
  CHECK_THROWS_WITH_AS(throw_no_cuda_backend("silu: input f32[2] cuda:0"),
                       doctest::Contains("silu: input f32[2] cuda:0: this build of Sono has no CUDA backend"), Error);
  if (!cuda_compiled())
    CHECK_THROWS_WITH_AS(Tensor::zeros({2}, DType::F32, Device::cuda(0)),
                         doctest::Contains("allocate on cuda:0: this build of Sono has no CUDA backend"), Error);
}

namespace probe {
// A backend function declared once, in a namespace of its own.
SONO_BACKEND_FN(void, record, (const Tensor& t, int* calls));
namespace cpu {
void record(const Tensor&, int* calls) { *calls += 1; }
}  // namespace cpu
#if SONO_WITH_CUDA
namespace cuda {
void record(const Tensor&, int* calls) { *calls += 100; }
}  // namespace cuda
#endif
int dispatch(const Tensor& t) {
  int calls = 0;
  SONO_DISPATCH_DEVICE(t, "probe", record, t, &calls);
  return calls;
}
}  // namespace probe

TEST_CASE("backend: the dispatch reaches the CPU entry point of the calling namespace for a CPU tensor") {
  // (The cuda route needs a device; every CUDA op test goes through it.)
  CHECK(probe::dispatch(Tensor::zeros({2})) == 1);
}
