#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ops/conv2d.h"
#include "ops/conv2d_geometry.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

// One configuration under test; the spatial size is chosen per test.
struct Case {
  const char* name;
  int64_t cin, cout, kh, kw;
  Conv2dOptions opt;
  bool bias;
};

Conv2dOptions make_opt(int64_t stride, int64_t top, int64_t bottom, int64_t left, int64_t right, int64_t dilation = 1,
                       int64_t groups = 1) {
  Conv2dOptions o;
  o.stride_h = o.stride_w = stride;
  o.pad_top = top, o.pad_bottom = bottom, o.pad_left = left, o.pad_right = right;
  o.dilation_h = o.dilation_w = dilation;
  o.groups = groups;
  return o;
}

// Every path of the CPU kernel: pointwise GEMM, im2col GEMM (dense, grouped,
// strided, dilated), direct depthwise (3x3/5x5 fixed kernels, the generic
// kernel, stride 1 via the flipped correlation, stride 2 via the scatter).
std::vector<Case> cases() {
  Conv2dOptions rect = make_opt(1, 1, 0, 2, 1, 1, 3);
  rect.stride_h = 2;
  rect.dilation_w = 2;
  return {
      {"1x1", 5, 4, 1, 1, make_opt(1, 0, 0, 0, 0), true},
      {"1x1 no bias", 6, 3, 1, 1, make_opt(1, 0, 0, 0, 0), false},
      {"1x1 stride 2", 3, 4, 1, 1, make_opt(2, 0, 0, 0, 0), true},
      {"3x3 dense stride 1 pad 1", 3, 4, 3, 3, make_opt(1, 1, 1, 1, 1), true},
      {"3x3 dense stride 2 pad (0,1,0,1)", 3, 5, 3, 3, make_opt(2, 0, 1, 0, 1), false},
      {"3x3 dense dilation 2", 3, 4, 3, 3, make_opt(1, 2, 2, 2, 2, 2), true},
      {"3x3 groups 2", 4, 6, 3, 3, make_opt(1, 1, 1, 1, 1, 1, 2), true},
      {"depthwise 3x3 stride 1", 4, 4, 3, 3, make_opt(1, 1, 1, 1, 1, 1, 4), false},
      {"depthwise 3x3 stride 2 pad (0,1,0,1)", 4, 4, 3, 3, make_opt(2, 0, 1, 0, 1, 1, 4), true},
      {"depthwise 5x5 stride 1", 3, 3, 5, 5, make_opt(1, 2, 2, 2, 2, 1, 3), true},
      {"depthwise 5x5 stride 2 pad (1,2,1,2)", 3, 3, 5, 5, make_opt(2, 1, 2, 1, 2, 1, 3), false},
      {"depthwise 5x5 stride 2 pad 2", 3, 3, 5, 5, make_opt(2, 2, 2, 2, 2, 1, 3), true},
      {"depthwise 3x3 dilation 2", 3, 3, 3, 3, make_opt(1, 2, 2, 2, 2, 2, 3), true},
      {"depthwise 3x3 pad 3 beyond the kernel", 2, 2, 3, 3, make_opt(1, 3, 0, 0, 3, 1, 2), true},
      {"depthwise 3x2 stride (2,1) dilation (1,2)", 3, 3, 3, 2, rect, true},
      {"depthwise 1x1", 3, 3, 1, 1, make_opt(1, 0, 0, 0, 0, 1, 3), true},
      {"depthwise 1x7 (two blocks of tap columns)", 2, 2, 1, 7, make_opt(1, 0, 0, 3, 3, 1, 2), false},
      {"channel multiplier 2", 2, 4, 3, 3, make_opt(1, 1, 1, 1, 1, 1, 2), true},
  };
}

int64_t out_size(int64_t in, int64_t pad, int64_t k, int64_t dil, int64_t stride) {
  return (in + pad - dil * (k - 1) - 1) / stride + 1;
}

struct Dims {
  int64_t n, cin, h, w, cout, kh, kw, ho, wo;
  Conv2dOptions o;
};

Dims dims_of(const Case& c, int64_t n, int64_t h, int64_t w) {
  const auto& o = c.opt;
  return {n,
          c.cin,
          h,
          w,
          c.cout,
          c.kh,
          c.kw,
          out_size(h, o.pad_top + o.pad_bottom, c.kh, o.dilation_h, o.stride_h),
          out_size(w, o.pad_left + o.pad_right, c.kw, o.dilation_w, o.stride_w),
          o};
}

// The seven loops of the definition; calls f(output, input, weight, channel)
// flat indices for every product that does not fall on the zero padding.
template <class F>
void for_each_product(const Dims& d, F f) {
  const int64_t cin_g = d.cin / d.o.groups, cout_g = d.cout / d.o.groups;
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t co = 0; co < d.cout; ++co)
      for (int64_t oh = 0; oh < d.ho; ++oh)
        for (int64_t ow = 0; ow < d.wo; ++ow)
          for (int64_t ci = 0; ci < cin_g; ++ci)
            for (int64_t ki = 0; ki < d.kh; ++ki)
              for (int64_t kj = 0; kj < d.kw; ++kj) {
                const int64_t ih = oh * d.o.stride_h - d.o.pad_top + ki * d.o.dilation_h;
                const int64_t iw = ow * d.o.stride_w - d.o.pad_left + kj * d.o.dilation_w;
                if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w) continue;
                const int64_t c = co / cout_g * cin_g + ci;
                f(((n * d.cout + co) * d.ho + oh) * d.wo + ow, ((n * d.cin + c) * d.h + ih) * d.w + iw,
                  ((co * cin_g + ci) * d.kh + ki) * d.kw + kj, co);
              }
}

Tensor ref_forward(const Dims& d, const Tensor& x, const Tensor& w, const Tensor& b) {
  auto xv = values(x), wv = values(w);
  std::vector<double> y(size_t(d.n * d.cout * d.ho * d.wo), 0.0);
  if (b.defined()) {
    auto bv = values(b);
    for (size_t i = 0; i < y.size(); ++i) y[i] = bv[i / size_t(d.ho * d.wo) % size_t(d.cout)];
  }
  for_each_product(d, [&](int64_t yi, int64_t xi, int64_t wi, int64_t) { y[yi] += xv[xi] * wv[wi]; });
  return Tensor::from_vector(y, {d.n, d.cout, d.ho, d.wo});
}

struct RefGrads {
  Tensor gx, gw, gb;
};

RefGrads ref_backward(const Dims& d, const Tensor& x, const Tensor& w, const Tensor& gy) {
  auto xv = values(x), wv = values(w), gv = values(gy);
  std::vector<double> gx(xv.size(), 0.0), gw(wv.size(), 0.0), gb(size_t(d.cout), 0.0);
  for (size_t i = 0; i < gv.size(); ++i) gb[i / size_t(d.ho * d.wo) % size_t(d.cout)] += gv[i];
  for_each_product(d, [&](int64_t yi, int64_t xi, int64_t wi, int64_t) {
    gx[xi] += gv[yi] * wv[wi];
    gw[wi] += gv[yi] * xv[xi];
  });
  return {Tensor::from_vector(gx, x.shape()), Tensor::from_vector(gw, w.shape()), Tensor::from_vector(gb, {d.cout})};
}

struct Inputs {
  Tensor x, w, b;
};

Inputs random_inputs(const Case& c, const Dims& d, uint64_t seed) {
  return {randn({d.n, c.cin, d.h, d.w}, seed), randn({c.cout, c.cin / c.opt.groups, c.kh, c.kw}, seed + 1),
          c.bias ? randn({c.cout}, seed + 2) : Tensor()};
}

}  // namespace

TEST_CASE("conv2d forward matches a naive reference (f64 and f32)") {
  uint64_t seed = 100;
  for (const Case& c : cases()) {
    INFO(std::string(c.name));
    // Output widths above one vector so the vector body and the tail both run.
    const Dims d = dims_of(c, 2, 13, 37);
    Inputs in = random_inputs(c, d, seed += 10);
    Tensor expected = ref_forward(d, in.x, in.w, in.b);
    CHECK_CLOSE(conv2d(in.x, in.w, in.b, c.opt), expected, tol::kForwardF64);
    Tensor bf = in.b.defined() ? in.b.to(DType::F32) : Tensor();
    Tensor yf = conv2d(in.x.to(DType::F32), in.w.to(DType::F32), bf, c.opt);
    CHECK(yf.dtype() == DType::F32);
    CHECK_CLOSE(yf, expected, tol::kForwardF32);
  }
}

TEST_CASE("conv2d gradients match finite differences") {
  uint64_t seed = 300;
  for (const Case& c : cases()) {
    INFO(std::string(c.name));
    const Dims d = dims_of(c, 2, 6, 7);
    Inputs in = random_inputs(c, d, seed += 10);
    in.x.set_requires_grad(true);
    in.w.set_requires_grad(true);
    if (in.b.defined()) in.b.set_requires_grad(true);
    const Conv2dOptions opt = c.opt;
    CHECK_GRADCHECK([opt](const std::vector<Tensor>& t) { return conv2d(t[0], t[1], t[2], opt); }, {in.x, in.w, in.b});
  }
}

TEST_CASE("conv2d backward matches a naive reference at vector widths (f64 and f32)") {
  uint64_t seed = 500;
  for (const Case& c : cases()) {
    INFO(std::string(c.name));
    const Dims d = dims_of(c, 2, 11, 29);
    Inputs in = random_inputs(c, d, seed += 10);
    Tensor gy = randn({d.n, c.cout, d.ho, d.wo}, seed + 5);
    RefGrads ref = ref_backward(d, in.x, in.w, gy);
    for (DType dt : {DType::F64, DType::F32}) {
      const Tolerance tol = dt == DType::F64 ? tol::kForwardF64 : tol::kForwardF32;
      const Tolerance tol_sum = dt == DType::F64 ? tol::kForwardF64 : tol::kGradReductionF32;
      // Fresh leaves per dtype (to() is a no-op for f64 and would share the leaf).
      Tensor x = in.x.to(dt).detach().set_requires_grad(true), w = in.w.to(dt).detach().set_requires_grad(true);
      Tensor b = in.b.defined() ? in.b.to(dt).detach().set_requires_grad(true) : Tensor();
      conv2d(x, w, b, c.opt).backward(gy.to(dt));
      CHECK_CLOSE(x.grad(), ref.gx, tol);
      CHECK_CLOSE(w.grad(), ref.gw, tol_sum);
      if (b.defined()) CHECK_CLOSE(b.grad(), ref.gb, tol_sum);
    }
  }
}

TEST_CASE("conv2d threaded kernels match the reference at a larger size") {
  // Large enough that every OpenMP region of the kernels runs in parallel;
  // the 48-channel one also makes im2col work in several chunks of rows.
  struct Big {
    Case c;
    int64_t h, w;
  };
  const std::vector<Big> big = {
      {{"dense 3x3 stride 2", 16, 8, 3, 3, make_opt(2, 0, 1, 0, 1), true}, 40, 44},
      {{"dense 3x3 in row chunks", 48, 4, 3, 3, make_opt(1, 1, 1, 1, 1), true}, 40, 66},
      // The stem (K = 27): short-depth chunks, taken by the threads whole.
      {{"stem 3x3 stride 2 3->48", 3, 48, 3, 3, make_opt(2, 0, 1, 0, 1), true}, 64, 64},
      {{"depthwise 5x5 stride 1", 8, 8, 5, 5, make_opt(1, 2, 2, 2, 2, 1, 8), true}, 40, 44},
      {{"depthwise 3x3 stride 2", 8, 8, 3, 3, make_opt(2, 0, 1, 0, 1, 1, 8), false}, 40, 44},
  };
  uint64_t seed = 700;
  for (const auto& [c, h, w] : big) {
    INFO(std::string(c.name));
    const Dims d = dims_of(c, 2, h, w);
    Inputs in = random_inputs(c, d, seed += 10);
    Tensor gy = randn({d.n, c.cout, d.ho, d.wo}, seed + 5);
    RefGrads ref = ref_backward(d, in.x, in.w, gy);
    in.x.set_requires_grad(true);
    in.w.set_requires_grad(true);
    Tensor y = conv2d(in.x, in.w, in.b, c.opt);
    CHECK_CLOSE(y, ref_forward(d, in.x, in.w, in.b), tol::kForwardF64);
    y.backward(gy);
    CHECK_CLOSE(in.x.grad(), ref.gx, tol::kForwardF64);
    CHECK_CLOSE(in.w.grad(), ref.gw, tol::kForwardF64);
  }
}

TEST_CASE("conv2d accepts non-contiguous input, weight and bias") {
  Conv2dOptions dense = make_opt(2, 0, 1, 0, 1);
  Conv2dOptions depthwise = make_opt(1, 1, 1, 1, 1, 1, 4);
  for (const Conv2dOptions& opt : {dense, depthwise}) {
    const int64_t wc = opt.groups == 1 ? 4 : 1;
    // x as a permuted NHWC tensor, weight and bias as strided slices.
    Tensor xs = randn({2, 9, 10, 4}, 1).set_requires_grad(true);
    Tensor ws = randn({8, wc, 3, 3}, 2).set_requires_grad(true);
    Tensor bs = randn({8}, 3).set_requires_grad(true);
    auto fn = [opt](const std::vector<Tensor>& t) {
      return conv2d(t[0].permute({0, 3, 1, 2}), t[1].slice(0, 0, 8, 2), t[2].slice(0, 1, 8, 2), opt);
    };
    Tensor x = xs.permute({0, 3, 1, 2}), w = ws.slice(0, 0, 8, 2), b = bs.slice(0, 1, 8, 2);
    REQUIRE(!x.is_contiguous());
    REQUIRE(!w.is_contiguous());
    const Dims d = dims_of({"", 4, 4, 3, 3, opt, true}, 2, 9, 10);
    CHECK_CLOSE(fn({xs, ws, bs}), ref_forward(d, x, w, b), tol::kForwardF64);
    CHECK_GRADCHECK(fn, {xs, ws, bs});
  }
}

TEST_CASE("conv2d computes only the gradients that are needed") {
  const Conv2dOptions opt = make_opt(1, 1, 1, 1, 1);
  const Dims d = dims_of({"", 3, 4, 3, 3, opt, true}, 2, 5, 6);
  Tensor x = randn({2, 3, 5, 6}, 7), w = randn({4, 3, 3, 3}, 8), b = randn({4}, 9);
  Tensor gy = randn({2, 4, d.ho, d.wo}, 10);
  RefGrads ref = ref_backward(d, x, w, gy);
  SUBCASE("input only (frozen layer)") {
    x.set_requires_grad(true);
    conv2d(x, w, b, opt).backward(gy);
    CHECK_CLOSE(x.grad(), ref.gx, tol::kForwardF64);
    CHECK(!w.grad().defined());
  }
  SUBCASE("weight and bias only (first layer)") {
    w.set_requires_grad(true);
    b.set_requires_grad(true);
    conv2d(x, w, b, opt).backward(gy);
    CHECK_CLOSE(w.grad(), ref.gw, tol::kForwardF64);
    CHECK_CLOSE(b.grad(), ref.gb, tol::kForwardF64);
    CHECK(!x.grad().defined());
  }
  SUBCASE("no grad mode records nothing") {
    w.set_requires_grad(true);
    NoGradGuard ng;
    CHECK(!conv2d(x, w, b, opt).requires_grad());
  }
}

TEST_CASE("conv2d rejects bad input with the op name") {
  Tensor x = randn({2, 4, 8, 8}, 1, DType::F32);
  Tensor w = randn({6, 2, 3, 3}, 2, DType::F32);
  Conv2dOptions g2 = Conv2dOptions::symmetric(1, 1, 2);
  CHECK_NOTHROW(conv2d(x, w, Tensor(), g2));
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), Conv2dOptions::symmetric(1, 1, 1)),
                       doctest::Contains("conv2d: input f32[2, 4, 8, 8] cpu and weight f32[6, 2, 3, 3] cpu"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), Conv2dOptions::symmetric(1, 1, 4)), doctest::Contains("groups 4"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, randn({6, 18}, 3, DType::F32), Tensor(), g2),
                       doctest::Contains("conv2d: weight f32[6, 18] cpu must be 4-d"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x.flatten(2), w, Tensor(), g2), doctest::Contains("conv2d: input f32[2, 4, 64]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w.to(DType::F64), Tensor(), g2), doctest::Contains("conv2d"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, randn({6}, 4, DType::F64), g2), doctest::Contains("conv2d"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, randn({5}, 4, DType::F32), g2),
                       doctest::Contains("conv2d: bias f32[5] cpu must be [6]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({0, 4, 8, 8}), w, Tensor(), g2),
                       doctest::Contains("conv2d: input f32[0, 4, 8, 8] cpu is empty"), Error);
  CHECK_THROWS_WITH_AS(conv2d(Tensor(), w, Tensor(), g2), doctest::Contains("conv2d"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x.to(DType::I64), w, Tensor(), g2), doctest::Contains("conv2d: input i64"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, randn({6, 2, 11, 11}, 5, DType::F32), Tensor(), g2),
                       doctest::Contains("larger than the padded input 10x10"), Error);
  Conv2dOptions dil = g2;
  dil.dilation_h = 5;  // 3x3 dilated by 5 spans 11 rows
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), dil), doctest::Contains("dilated kernel 11x3"), Error);
  Conv2dOptions zero_stride = g2;
  zero_stride.stride_w = 0;
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), zero_stride), doctest::Contains("stride (1, 0)"), Error);
  Conv2dOptions negative_pad = g2;
  negative_pad.pad_left = -1;
  CHECK_THROWS_WITH_AS(conv2d(x, w, Tensor(), negative_pad), doctest::Contains("padding"), Error);
}

TEST_CASE("conv2d: the geometry shared by the backends reads the tensors and the options") {
  Conv2dOptions o;
  o.stride_h = 2, o.stride_w = 1, o.pad_top = 0, o.pad_bottom = 1, o.pad_left = 2, o.pad_right = 3;
  o.dilation_h = 1, o.dilation_w = 2, o.groups = 4;
  const Tensor x = Tensor::zeros({2, 8, 9, 10}), w = Tensor::zeros({12, 2, 3, 3});
  const conv::Geometry g = conv::geometry(x, w, {2, 12, 4, 11}, o);
  CHECK(std::vector<int64_t>{g.n, g.cin, g.h, g.w, g.cout, g.kh, g.kw, g.ho, g.wo} ==
        std::vector<int64_t>{2, 8, 9, 10, 12, 3, 3, 4, 11});
  CHECK(std::vector<int64_t>{g.sh, g.sw, g.pt, g.pb, g.pl, g.pr, g.dh, g.dw, g.groups} ==
        std::vector<int64_t>{2, 1, 0, 1, 2, 3, 1, 2, 4});
  CHECK(g.cin_g() == 2);
  CHECK(g.cout_g() == 3);
  CHECK_FALSE(g.depthwise());
  CHECK_FALSE(g.symmetric_padding());
  CHECK_FALSE(g.pointwise());
  const conv::Geometry dw = conv::geometry(Tensor::zeros({1, 4, 5, 5}), Tensor::zeros({4, 1, 3, 3}), {1, 4, 5, 5},
                                           Conv2dOptions::symmetric(1, 1, 4));
  CHECK(dw.depthwise());
  CHECK(dw.symmetric_padding());
  const conv::Geometry pw =
      conv::geometry(Tensor::zeros({1, 4, 5, 5}), Tensor::zeros({6, 4, 1, 1}), {1, 6, 5, 5}, Conv2dOptions{});
  CHECK(pw.pointwise());
}

TEST_CASE("conv2d: the cuDNN algorithm search setting round trips") {
  const ConvAlgoSearch before = conv_algo_search();
  set_conv_algo_search(ConvAlgoSearch::Benchmark);
  CHECK(conv_algo_search() == ConvAlgoSearch::Benchmark);
  set_conv_algo_search(ConvAlgoSearch::Heuristic);
  CHECK(conv_algo_search() == ConvAlgoSearch::Heuristic);
  set_conv_algo_search(before);
}
