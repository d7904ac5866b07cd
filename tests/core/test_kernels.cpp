// The core's data kernels on the CPU: the contiguous fast paths of fill and
// axpy give exactly what the strided walk gives, and both match a plain loop.
#include <doctest/doctest.h>

#include <algorithm>

#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

// The same logical values as x in a column-major (non-contiguous) layout.
Tensor strided_copy(const Tensor& x) {
  Tensor t = x.permute({1, 0}).contiguous().permute({1, 0});
  REQUIRE(!t.is_contiguous());
  return t;
}

}  // namespace

TEST_CASE("kernels: fill is the same on contiguous and strided tensors") {
  // 300 x 301 takes the parallel loop (> 2^16 elements), 3 x 5 the serial one.
  for (Shape shape : {Shape{3, 5}, Shape{300, 301}}) {
    for (DType t : {DType::F32, DType::F64, DType::I64, DType::BF16}) {
      CAPTURE(shape_str(shape));
      const std::string dtype = dtype_name(t);
      CAPTURE(dtype);
      Tensor c = Tensor::zeros(shape, t), s = strided_copy(Tensor::zeros(shape, t));
      REQUIRE(c.is_contiguous());
      c.fill_(-3.0);  // exact in every dtype
      s.fill_(-3.0);
      const std::vector<double> vc = values(c), vs = values(s);
      CHECK(vc == vs);
      CHECK(std::all_of(vc.begin(), vc.end(), [](double v) { return v == -3.0; }));
    }
  }
  // A strided view writes exactly its elements.
  Tensor base = Tensor::zeros({6, 5}, DType::F64);
  base.permute({1, 0}).slice(0, 1, 5, 2).fill_(3.5);  // columns 1 and 3
  const std::vector<double> vb = values(base);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 5; ++j) CHECK(vb[size_t(i * 5 + j)] == (j == 1 || j == 3 ? 3.5 : 0.0));
}

TEST_CASE("kernels: axpy is the same on contiguous and strided tensors and matches a plain loop") {
  for (Shape shape : {Shape{3, 5}, Shape{300, 301}}) {
    for (DType t : {DType::F32, DType::F64}) {
      CAPTURE(shape_str(shape));
      const std::string dtype = dtype_name(t);
      CAPTURE(dtype);
      const Tensor d0 = randn(shape, 11, t), src = randn(shape, 12, t);
      Tensor c = d0.clone(), s = strided_copy(d0);
      c.add_(src, -0.7);
      s.add_(strided_copy(src), -0.7);
      const std::vector<double> vc = values(c), vs = values(s);
      CHECK(vc == vs);
      const std::vector<double> vd = values(d0), vsrc = values(src);
      std::vector<double> ref(vd.size());
      for (size_t i = 0; i < ref.size(); ++i) ref[i] = vd[i] - 0.7 * vsrc[i];
      CHECK_CLOSE(c, Tensor::from_vector(ref, shape).to(t), t == DType::F32 ? tol::kForwardF32 : tol::kForwardF64);
    }
  }
}
