#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "ops/upsample.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;

namespace {

Tensor ref_nearest2x(const Tensor& x) {
  const int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
  auto v = values(x);
  std::vector<double> out(size_t(planes * 4 * h * w));
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < 2 * h; ++y)
      for (int64_t c = 0; c < 2 * w; ++c)
        out[size_t((p * 2 * h + y) * 2 * w + c)] = v[size_t((p * h + y / 2) * w + c / 2)];
  return Tensor::from_vector(out, {x.size(0), x.size(1), 2 * h, 2 * w});
}

// PyTorch's source coordinate along one axis. PyTorch computes it in the
// tensor's type, so an f32 kernel reads coordinates rounded to float (off by
// up to 4e-6 at 64 -> 256): the f32 reference does the same, in Coord.
struct Tap {
  int64_t i0, i1;
  double l1;
};
template <class Coord>
Tap ref_tap(int64_t dst, int64_t in, int64_t out, bool align_corners) {
  Coord src = align_corners ? (out > 1 ? Coord(in - 1) / Coord(out - 1) * Coord(dst) : Coord(0))
                            : std::max(Coord(0), Coord(in) / Coord(out) * (Coord(dst) + Coord(0.5)) - Coord(0.5));
  int64_t i0 = std::min(int64_t(std::floor(src)), in - 1);
  return {i0, std::min(i0 + 1, in - 1), std::clamp(double(src) - double(i0), 0.0, 1.0)};
}

template <class Coord = double>
Tensor ref_bilinear(const Tensor& x, int64_t oh, int64_t ow, bool align_corners) {
  const int64_t planes = x.size(0) * x.size(1), ih = x.size(2), iw = x.size(3);
  auto v = values(x);
  std::vector<double> out(size_t(planes * oh * ow));
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t c = 0; c < ow; ++c) {
        Tap r = ref_tap<Coord>(y, ih, oh, align_corners), s = ref_tap<Coord>(c, iw, ow, align_corners);
        auto at = [&](int64_t i, int64_t j) { return v[size_t((p * ih + i) * iw + j)]; };
        double top = (1 - s.l1) * at(r.i0, s.i0) + s.l1 * at(r.i0, s.i1);
        double bottom = (1 - s.l1) * at(r.i1, s.i0) + s.l1 * at(r.i1, s.i1);
        out[size_t((p * oh + y) * ow + c)] = (1 - r.l1) * top + r.l1 * bottom;
      }
  return Tensor::from_vector(out, {x.size(0), x.size(1), oh, ow});
}

struct Resize {
  Shape in;
  int64_t oh, ow;
};
// Upscale x2 (FPN), x4 (segmentation head 64 -> 256, shrunk), odd and mixed
// sizes, downscale, identity, a single pixel in or out.
const Resize kResizes[] = {{{2, 3, 4, 5}, 8, 10}, {{1, 2, 16, 16}, 64, 64}, {{2, 2, 5, 3}, 11, 7},
                           {{1, 3, 7, 9}, 3, 4},  {{1, 2, 6, 5}, 4, 8},     {{2, 1, 3, 4}, 3, 4},
                           {{1, 2, 1, 1}, 3, 3},  {{1, 1, 6, 6}, 1, 1},     {{1, 2, 3, 1}, 1, 5}};

}  // namespace

TEST_CASE("upsample_nearest2x matches a plain reference (f64 and f32)") {
  Tensor x = randn({2, 3, 5, 7}, 1);
  CHECK_CLOSE(upsample_nearest2x(x), ref_nearest2x(x), tol::kForwardF64);
  CHECK_CLOSE(upsample_nearest2x(x.to(DType::F32)), ref_nearest2x(x), tol::kForwardF32);
}

TEST_CASE("upsample_nearest2x gradient sums each 2x2 block") {
  Tensor x = randn({2, 3, 3, 4}, 2).set_requires_grad(true);
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return upsample_nearest2x(in[0]); }, {x});
  x.reset_grad();
  Tensor y = upsample_nearest2x(x);
  Tensor g = randn(y.shape(), 3);
  y.backward(g);
  auto gv = values(g);
  std::vector<double> expected(size_t(x.numel()));
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < 4; ++c) {
        auto at = [&](int64_t yy, int64_t xx) { return gv[size_t((p * 6 + yy) * 8 + xx)]; };
        expected[size_t((p * 3 + r) * 4 + c)] =
            at(2 * r, 2 * c) + at(2 * r, 2 * c + 1) + at(2 * r + 1, 2 * c) + at(2 * r + 1, 2 * c + 1);
      }
  CHECK_CLOSE(x.grad(), Tensor::from_vector(expected, x.shape()), tol::kForwardF64);
}

TEST_CASE("upsample_bilinear2d matches hand-computed PyTorch values") {
  Tensor x = Tensor::from_vector(std::vector<double>{0, 1, 2, 3}, {1, 1, 2, 2});
  CHECK_CLOSE(upsample_bilinear2d(x, 3, 3, true),
              Tensor::from_vector(std::vector<double>{0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3}, {1, 1, 3, 3}),
              tol::kForwardF64);
  CHECK_CLOSE(upsample_bilinear2d(x, 4, 4, false),
              Tensor::from_vector(
                  std::vector<double>{0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3},
                  {1, 1, 4, 4}),
              tol::kForwardF64);
}

TEST_CASE("upsample_bilinear2d matches a plain reference (align_corners true and false, f64 and f32)") {
  for (const Resize& r : kResizes)
    for (bool align_corners : {true, false}) {
      CAPTURE(shape_str(r.in));
      CAPTURE(r.oh);
      CAPTURE(r.ow);
      CAPTURE(align_corners);
      Tensor x = randn(r.in, 4);
      Tensor ref = ref_bilinear(x, r.oh, r.ow, align_corners);
      CHECK_CLOSE(upsample_bilinear2d(x, r.oh, r.ow, align_corners), ref, tol::kForwardF64);
      CHECK_CLOSE(upsample_bilinear2d(x.to(DType::F32), r.oh, r.ow, align_corners),
                  ref_bilinear<float>(x, r.oh, r.ow, align_corners), tol::kForwardF32);
    }
  // The segmentation head at full size: 64 -> 256, align_corners=true.
  Tensor x = randn({1, 2, 64, 64}, 5);
  CHECK_CLOSE(upsample_bilinear2d(x.to(DType::F32), 256, 256, true), ref_bilinear<float>(x, 256, 256, true),
              tol::kForwardF32);
  CHECK_CLOSE(upsample_bilinear2d(x, 256, 256, true), ref_bilinear(x, 256, 256, true), tol::kForwardF64);
}

TEST_CASE("upsample_bilinear2d gradient matches finite differences") {
  for (const Resize& r : kResizes)
    for (bool align_corners : {true, false}) {
      CAPTURE(shape_str(r.in));
      CAPTURE(r.oh);
      CAPTURE(r.ow);
      CAPTURE(align_corners);
      if (shape_numel(r.in) > 100) continue;  // keep finite differences cheap
      Tensor x = randn(r.in, 6).set_requires_grad(true);
      CHECK_GRADCHECK(
          [&](const std::vector<Tensor>& in) { return upsample_bilinear2d(in[0], r.oh, r.ow, align_corners); }, {x});
    }
}

TEST_CASE("upsample ops accept non-contiguous input") {
  Tensor base = randn({4, 5, 2, 3}, 7).set_requires_grad(true);
  Tensor x = base.permute({2, 3, 0, 1});  // [2, 3, 4, 5]
  CHECK_CLOSE(upsample_nearest2x(x), ref_nearest2x(x), tol::kForwardF64);
  CHECK_CLOSE(upsample_bilinear2d(x, 7, 9, false), ref_bilinear(x, 7, 9, false), tol::kForwardF64);
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return upsample_nearest2x(in[0].permute({2, 3, 0, 1}));
      },
      {base});
  CHECK_GRADCHECK(
      [](const std::vector<Tensor>& in) {
        return upsample_bilinear2d(in[0].permute({2, 3, 0, 1}), 7, 9, true);
      },
      {base});
}

TEST_CASE("upsample ops reject bad input with the op name and shape") {
  CHECK_THROWS_WITH_AS(upsample_nearest2x(randn({2, 3, 4}, 8)),
                       doctest::Contains("upsample_nearest2x: expected an NCHW input, got f64[2, 3, 4] cpu"), Error);
  CHECK_THROWS_WITH_AS(upsample_nearest2x(Tensor::zeros({1, 2, 0, 3})),
                       doctest::Contains("upsample_nearest2x: input f32[1, 2, 0, 3] cpu is empty"), Error);
  CHECK_THROWS_WITH_AS(upsample_bilinear2d(randn({2, 3, 4, 4, 1}, 9), 8, 8, true),
                       doctest::Contains("upsample_bilinear2d: expected an NCHW input, got f64[2, 3, 4, 4, 1] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(upsample_bilinear2d(randn({1, 1, 4, 4}, 10), 0, 8, false),
                       doctest::Contains("upsample_bilinear2d: output size (0, 8) for input f64[1, 1, 4, 4] cpu"),
                       Error);
  CHECK_THROWS_WITH_AS(upsample_bilinear2d(Tensor::zeros({1, 1, 2, 2}, DType::I64), 4, 4, true),
                       doctest::Contains("upsample_bilinear2d: input i64[1, 1, 2, 2] cpu"), Error);
  CHECK_THROWS_AS(upsample_bilinear2d(Tensor(), 4, 4, true), Error);
}
