// The two input-gradient paths of the strided depthwise conv
// (ops/cpu/conv2d_depthwise.cpp), called directly: the scatter and the
// per-phase gather, each against the definition at the model's strides,
// kernels and TF-"same" pads, whichever of them the dispatch would take.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "ops/conv2d.h"
#include "ops/cpu/conv2d_paths.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

struct Strided {
  int64_t k, stride, pad_before, pad_after, h, w;
};

// gx by the definition: every gy pixel times every tap, added where it lands.
std::vector<double> reference_gx(const cpu::conv::Geometry& g, const std::vector<double>& gy,
                                 const std::vector<double>& w) {
  std::vector<double> gx(size_t(g.n * g.cin * g.h * g.w), 0.0);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < g.cin; ++c)
      for (int64_t oh = 0; oh < g.ho; ++oh)
        for (int64_t ow = 0; ow < g.wo; ++ow)
          for (int64_t ki = 0; ki < g.kh; ++ki)
            for (int64_t kj = 0; kj < g.kw; ++kj) {
              const int64_t ih = oh * g.sh - g.pt + ki, iw = ow * g.sw - g.pl + kj;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              gx[size_t(((n * g.cin + c) * g.h + ih) * g.w + iw)] +=
                  gy[size_t(((n * g.cin + c) * g.ho + oh) * g.wo + ow)] * w[size_t((c * g.kh + ki) * g.kw + kj)];
            }
  return gx;
}

}  // namespace

TEST_CASE("depthwise strided input gradient: the scatter and the gather both match the definition") {
  using cpu::conv::StridedInputGrad;
  const std::vector<Strided> shapes = {
      {3, 2, 0, 1, 17, 37}, {3, 2, 1, 2, 16, 29}, {5, 2, 1, 2, 17, 37},
      {5, 2, 2, 2, 16, 29}, {5, 2, 0, 1, 9, 9},   {3, 2, 0, 1, 8, 8},  // outputs narrower than a vector
  };
  uint64_t seed = 900;
  for (const Strided& s : shapes) {
    Conv2dOptions o = Conv2dOptions::symmetric(s.pad_before, s.stride, 3);
    o.pad_bottom = o.pad_right = s.pad_after;
    const int64_t ho = (s.h + s.pad_before + s.pad_after - s.k) / s.stride + 1;
    const int64_t wo = (s.w + s.pad_before + s.pad_after - s.k) / s.stride + 1;
    Tensor w = randn({3, 1, s.k, s.k}, seed += 10), gy = randn({2, 3, ho, wo}, seed + 1);
    const cpu::conv::Geometry g = cpu::conv::geometry(Tensor::zeros({2, 3, s.h, s.w}), w, gy.shape(), o);
    const Tensor expected = Tensor::from_vector(reference_gx(g, values(gy), values(w)), {2, 3, s.h, s.w});
    for (StridedInputGrad path : {StridedInputGrad::Scatter, StridedInputGrad::Gather}) {
      INFO(s.k, "x", s.k, " stride ", s.stride, " pads ", s.pad_before, "/", s.pad_after, " at ", s.h, "x", s.w,
           std::string(path == StridedInputGrad::Gather ? ", gather" : ", scatter"));
      Tensor gx = Tensor::full({2, 3, s.h, s.w}, 7.0).to(DType::F64);  // overwritten, never accumulated onto
      cpu::conv::depthwise_backward_input(g, gy.data<double>(), w.data<double>(), gx.data<double>(), path);
      CHECK_CLOSE(gx, expected, tol::kForwardF64);
      Tensor gyf = gy.to(DType::F32), wf = w.to(DType::F32);
      Tensor gxf = Tensor::full({2, 3, s.h, s.w}, 7.0).to(DType::F32);
      cpu::conv::depthwise_backward_input(g, gyf.data<float>(), wf.data<float>(), gxf.data<float>(), path);
      CHECK_CLOSE(gxf, expected, tol::kForwardF32);
    }
  }
}

TEST_CASE("depthwise strided input gradient: the gather refuses a dilated conv") {
  Conv2dOptions o = Conv2dOptions::symmetric(2, 2, 3);
  o.dilation_h = o.dilation_w = 2;
  Tensor w = Tensor::zeros({3, 1, 3, 3}).to(DType::F64), gy = Tensor::zeros({1, 3, 5, 5}).to(DType::F64);
  Tensor gx = Tensor::zeros({1, 3, 10, 10}).to(DType::F64);
  const cpu::conv::Geometry g = cpu::conv::geometry(gx, w, gy.shape(), o);
  CHECK_THROWS_WITH_AS(cpu::conv::depthwise_backward_input(g, gy.data<double>(), w.data<double>(), gx.data<double>(),
                                                           cpu::conv::StridedInputGrad::Gather),
                       doctest::Contains("dilation"), Error);
}
