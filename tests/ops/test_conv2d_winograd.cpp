// The Winograd F(4x4, 3x3) path of the CPU conv2d (ops/cpu/conv2d_winograd.cpp)
// against a plain f64 loop, at the model's 3x3 shapes (FPN / segmentation
// blocks: 256->128 and 128->128) with inputs and weights scaled like the model
// (order-1 activations, He-initialised weights), and at odd sizes that
// exercise partial tiles, partial vectors and asymmetric padding.
#include <doctest/doctest.h>
#include "core/parallel.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/conv2d.h"
#include "ops/cpu/conv2d_paths.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

struct Shape3 {
  const char* name;
  int64_t n, cin, cout, h, w, pt, pb, pl, pr;
};

const std::vector<Shape3>& shapes() {
  static const std::vector<Shape3> s = {
      {"fpn 256->128 @16", 2, 256, 128, 16, 16, 1, 1, 1, 1},
      // The end-to-end test's decoder (B0 at 64x64, batch 8): 2x2 tiles a map.
      {"e2e 256->128 @8 batch 8", 8, 256, 128, 8, 8, 1, 1, 1, 1},
      {"e2e 128->128 @16 batch 8", 8, 128, 128, 16, 16, 1, 1, 1, 1},
      {"seg 128->128 @32", 1, 128, 128, 32, 32, 1, 1, 1, 1},
      {"odd 40->36 @13x19 pads (1,0,2,1)", 2, 40, 36, 13, 19, 1, 0, 2, 1},
      {"odd 33->34 @21x9 no padding", 1, 33, 34, 21, 9, 0, 0, 0, 0},
      // 18 tiles a row: chunks of 7 tile rows, the last one shorter.
      {"chunks 32->40 @40x72", 2, 32, 40, 40, 72, 1, 1, 1, 1},
  };
  return s;
}

Conv2dOptions options(const Shape3& s) {
  Conv2dOptions o;
  o.pad_top = s.pt, o.pad_bottom = s.pb, o.pad_left = s.pl, o.pad_right = s.pr;
  return o;
}

struct Problem {
  Shape3 s;
  int64_t ho, wo;
  Tensor x, w, b, gy;  // f64
};

Problem make(const Shape3& s, uint64_t seed) {
  Problem p{s, s.h + s.pt + s.pb - 2, s.w + s.pl + s.pr - 2, {}, {}, {}, {}};
  p.x = randn({s.n, s.cin, s.h, s.w}, seed);
  p.w = randn({s.cout, s.cin, 3, 3}, seed + 1, DType::F64, std::sqrt(2.0 / (9.0 * double(s.cin))));
  p.b = randn({s.cout}, seed + 2, DType::F64, 0.1);
  p.gy = randn({s.n, s.cout, p.ho, p.wo}, seed + 3);
  return p;
}

// The definition in f64: y = x * w + b, gx = the transposed correlation of
// gy, gw = the correlation of x with gy.
void reference(const Problem& p, std::vector<double>& y, std::vector<double>& gx, std::vector<double>& gw) {
  const Shape3& s = p.s;
  const auto x = values(p.x), w = values(p.w), b = values(p.b), gy = values(p.gy);
  y.assign(size_t(s.n * s.cout * p.ho * p.wo), 0.0);
  gx.assign(x.size(), 0.0);
  gw.assign(w.size(), 0.0);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t k = 0; k < s.cout; ++k)
      for (int64_t c = 0; c < s.cin; ++c)
        for (int64_t ki = 0; ki < 3; ++ki)
          for (int64_t kj = 0; kj < 3; ++kj) {
            const size_t wi = size_t(((k * s.cin + c) * 3 + ki) * 3 + kj);
            const double wv = w[wi];
            double gwv = 0;
            for (int64_t oh = 0; oh < p.ho; ++oh) {
              const int64_t ih = oh - s.pt + ki;
              if (ih < 0 || ih >= s.h) continue;
              const size_t yrow = size_t(((n * s.cout + k) * p.ho + oh) * p.wo);
              const size_t xrow = size_t(((n * s.cin + c) * s.h + ih) * s.w);
              for (int64_t ow = 0; ow < p.wo; ++ow) {
                const int64_t iw = ow - s.pl + kj;
                if (iw < 0 || iw >= s.w) continue;
                y[yrow + size_t(ow)] += wv * x[xrow + size_t(iw)];
                gx[xrow + size_t(iw)] += wv * gy[yrow + size_t(ow)];
                gwv += gy[yrow + size_t(ow)] * x[xrow + size_t(iw)];
              }
            }
            gw[wi] += gwv;
          }
  for (size_t i = 0; i < y.size(); ++i) y[i] += b[i / size_t(p.ho * p.wo) % size_t(s.cout)];
}

conv::Geometry geometry_of(const Problem& p) {
  return conv::geometry(p.x, p.w, {p.s.n, p.s.cout, p.ho, p.wo}, options(p.s));
}

// The Winograd kernels called directly (f32), whatever the dispatch rule says.
struct Result {
  Tensor y, gx, gw;
};
Result run_winograd(const Problem& p) {
  const conv::Geometry g = geometry_of(p);
  Tensor x = p.x.to(DType::F32), w = p.w.to(DType::F32), b = p.b.to(DType::F32), gy = p.gy.to(DType::F32);
  Result r{Tensor::empty({p.s.n, p.s.cout, p.ho, p.wo}, DType::F32), Tensor::empty(p.x.shape(), DType::F32),
           Tensor::empty(p.w.shape(), DType::F32)};
  cpu::conv::winograd_forward(g, x.data<float>(), w.data<float>(), b.data<float>(), r.y.data<float>());
  cpu::conv::winograd_backward_input(g, w.data<float>(), gy.data<float>(), r.gx.data<float>());
  cpu::conv::winograd_backward_weight(g, x.data<float>(), gy.data<float>(), r.gw.data<float>());
  return r;
}

// max |a - e| and that relative to max |e|, for the report.
std::string error_report(const Tensor& actual, const std::vector<double>& expected) {
  const auto a = values(actual);
  double err = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(a[i] - expected[i]));
    scale = std::max(scale, std::abs(expected[i]));
  }
  return str_cat("max abs error ", err, ", ", err / scale, " of max |expected| ", scale);
}

}  // namespace

TEST_CASE("conv2d winograd: forward and input gradient match f64 at the model's 3x3 shapes") {
  uint64_t seed = 900;
  for (const Shape3& s : shapes()) {
    INFO(std::string(s.name));
    const Problem p = make(s, seed += 10);
    std::vector<double> y, gx, gw;
    reference(p, y, gx, gw);
    const Result r = run_winograd(p);
    MESSAGE(std::string(s.name), " y: ", error_report(r.y, y), "; gx: ", error_report(r.gx, gx),
            "; gw: ", error_report(r.gw, gw));
    CHECK_CLOSE(r.gw, Tensor::from_vector(gw, r.gw.shape()), tol::kWinogradGradWeightF32);
    CHECK_CLOSE(r.y, Tensor::from_vector(y, r.y.shape()), tol::kWinogradF32);
    CHECK_CLOSE(r.gx, Tensor::from_vector(gx, r.gx.shape()), tol::kWinogradF32);
  }
}

TEST_CASE("conv2d winograd: the public conv2d takes it where enabled and the rule says, f64 keeps the plain path") {
  const Shape3 s{"seg 128->64 @32", 2, 128, 64, 32, 32, 1, 1, 1, 1};  // 128 tiles
  const Problem p = make(s, 42);
  REQUIRE(cpu::conv::winograd_fits(geometry_of(p), false));
  REQUIRE(cpu::conv::winograd_fits(geometry_of(p), true));
  const bool on = cpu::conv::winograd_enabled();
  CHECK(cpu::conv::winograd_applies(geometry_of(p), false) == on);
  std::vector<double> y, gx, gw;
  reference(p, y, gx, gw);
  const Tensor ye = Tensor::from_vector(y, {s.n, s.cout, p.ho, p.wo}), gxe = Tensor::from_vector(gx, p.x.shape());
  // f32 through autograd: by default (SONO_CPU_WINOGRAD unset) forward and gradients by
  // Winograd, bit-equal to the direct calls; with =0 im2col at the plain bounds.
  Tensor x = p.x.to(DType::F32).detach().set_requires_grad(true);
  Tensor w = p.w.to(DType::F32).detach().set_requires_grad(true);
  Tensor yf = conv2d(x, w, p.b.to(DType::F32), options(s));
  yf.backward(p.gy.to(DType::F32));
  if (on) {
    const Result r = run_winograd(p);
    CHECK(values(yf) == values(r.y));
    CHECK(values(x.grad()) == values(r.gx));
    CHECK(values(w.grad()) == values(r.gw));
    CHECK_CLOSE(yf, ye, tol::kWinogradF32);
  } else {
    CHECK_CLOSE(yf, ye, tol::kForwardF32);
    CHECK_CLOSE(x.grad(), gxe, tol::kForwardF32);
  }
  // f64 (the gradchecks' dtype): the plain path at the plain tolerance.
  Tensor x64 = p.x.detach().set_requires_grad(true);
  Tensor y64 = conv2d(x64, p.w, p.b, options(s));
  y64.backward(p.gy);
  CHECK_CLOSE(y64, ye, tol::kForwardF64);
  CHECK_CLOSE(x64.grad(), gxe, tol::kForwardF64);
  // Outside the rule (few channels, small outputs, strides) it does not fit.
  auto fits = [](int64_t cin, int64_t cout, int64_t hw, int64_t stride, int64_t groups) {
    Conv2dOptions o = Conv2dOptions::symmetric(1, stride, groups);
    const int64_t out = (hw + 2 - 3) / stride + 1;
    return cpu::conv::winograd_fits(conv::geometry(Tensor::zeros({2, cin, hw, hw}),
                                                   Tensor::zeros({cout, cin / groups, 3, 3}), {2, cout, out, out}, o),
                                    false);
  };
  CHECK(fits(128, 128, 32, 1, 1));
  CHECK_FALSE(fits(3, 48, 64, 1, 1));
  CHECK_FALSE(fits(256, 128, 8, 1, 1));  // 8 tiles: the weight transform is not repaid
  CHECK_FALSE(fits(128, 128, 32, 2, 1));
  CHECK_FALSE(fits(128, 128, 32, 1, 2));
}

TEST_CASE("conv2d winograd: NaN in the input reaches the outputs it touches") {
  const Shape3 s{"odd", 1, 40, 36, 13, 19, 1, 1, 1, 1};
  Problem p = make(s, 77);
  std::vector<double> xv = values(p.x);
  xv[size_t(5 * s.h * s.w + 6 * s.w + 7)] = std::nan("");  // channel 5, row 6, column 7
  p.x = Tensor::from_vector(xv, p.x.shape());
  const Result r = run_winograd(p);
  const auto y = values(r.y);
  // Output (6 +- 1, 7 +- 1) of every channel reads it; (0, 0) does not.
  for (int64_t k = 0; k < s.cout; ++k) {
    CHECK(std::isnan(y[size_t((k * p.ho + 6) * p.wo + 7)]));
    CHECK(std::isnan(y[size_t((k * p.ho + 5) * p.wo + 8)]));
  }
  CHECK_FALSE(std::isnan(y[0]));
}

TEST_CASE("conv2d winograd: bit-identical at 1, 2 and 3 threads") {
  const Problem p = make({"64->48 @40x72 (3 chunks)", 2, 64, 48, 40, 72, 1, 1, 1, 1}, 5);
  const int before = num_threads();
  std::vector<std::vector<double>> ys, gxs, gws;
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    const Result r = run_winograd(p);
    ys.push_back(values(r.y));
    gxs.push_back(values(r.gx));
    gws.push_back(values(r.gw));
  }
  set_num_threads(before);
  for (int i : {1, 2}) {
    CHECK(ys[0] == ys[size_t(i)]);
    CHECK(gxs[0] == gxs[size_t(i)]);
    CHECK(gws[0] == gws[size_t(i)]);
  }
}
