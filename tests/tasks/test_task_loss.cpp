#include <doctest/doctest.h>

#include <cmath>

#include "tasks/detection.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::test;
using namespace sono::tasks;

namespace {
// Boxes (x1, y1, x2, y2) normalised; row 2 has no box (-1s).
Tensor test_boxes() {
  return Tensor::from_vector<float>({0.10f, 0.20f, 0.30f, 0.60f,  //
                                     0.50f, 0.50f, 0.99f, 0.99f,  //
                                     -1, -1, -1, -1,              //
                                     0.0f, 0.0f, 0.02f, 0.01f},
                                    {4, 4});
}
}  // namespace

TEST_CASE("centre cells follow train.py's float32 truncation and clamping") {
  std::vector<int64_t> rows, cols;
  centre_cells(test_boxes(), 8, 16, rows, cols);
  CHECK(rows == std::vector<int64_t>{3, 5, 0, 0});   // (0.2+0.6)/2*8 = 3.2; 0.745*8 = 5.96; -1*8 -> clamp 0
  CHECK(cols == std::vector<int64_t>{3, 11, 0, 0});  // 0.2*16 = 3.2; 0.745*16 = 11.92
}

TEST_CASE("detection loss equals BCE + 8 * L1 at the centre cell over rows with a box") {
  Tensor out = rand_uniform({4, 5, 8, 16}, 0.05, 0.95, 1);
  Tensor boxes = test_boxes();
  std::vector<int64_t> rows, cols;
  centre_cells(boxes, 8, 16, rows, cols);
  auto o = values(out), b = values(boxes);
  double cls = 0, box = 0;
  int valid = 0;
  for (int i = 0; i < 4; ++i) {
    if (b[size_t(i * 4)] < 0) continue;
    ++valid;
    auto at = [&](int c) { return o[size_t(((i * 5 + c) * 8 + rows[size_t(i)]) * 16 + cols[size_t(i)])]; };
    cls += std::log1p(std::exp(-at(4)));
    for (int c = 0; c < 4; ++c) box += std::fabs(at(c) - b[size_t(i * 4 + c)]);
  }
  double expected = cls / valid + 8 * box / (4 * valid);
  CHECK(detection_loss(out, boxes).item() == doctest::Approx(expected).epsilon(1e-6));
  Tensor x = out.clone().set_requires_grad(true);
  CHECK_GRADCHECK([&](const std::vector<Tensor>& in) { return detection_loss(in[0], boxes); }, {x});
}

TEST_CASE("detection loss without any box is a constant zero that reaches nothing") {
  Tensor out = rand_uniform({2, 5, 4, 4}, 0.1, 0.9, 2, DType::F32).set_requires_grad(true);
  Tensor none = Tensor::full({2, 4}, -1.0);
  Tensor loss = detection_loss(out, none);
  CHECK(loss.item() == 0.0);
  loss.backward();
  CHECK_FALSE(out.grad().defined());
}

TEST_CASE("detection loss rejects mis-shaped inputs") {
  CHECK_THROWS_WITH_AS(detection_loss(Tensor::zeros({2, 4, 4, 4}), Tensor::zeros({2, 4})),
                       doctest::Contains("detection_loss"), Error);
  CHECK_THROWS_WITH_AS(detection_loss(Tensor::zeros({2, 5, 4, 4}), Tensor::zeros({3, 4})),
                       doctest::Contains("do not match"), Error);
}
