#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "tasks/metrics.h"
#include "tests/support/skip.h"

using namespace sono::metrics;

namespace {
// O(n^2) Hausdorff distance straight from the definition.
double brute_hausdorff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int64_t h, int64_t w) {
  auto directed = [&](const std::vector<uint8_t>& x, const std::vector<uint8_t>& y) {
    double worst = 0;
    for (int64_t i = 0; i < h * w; ++i) {
      if (!x[size_t(i)]) continue;
      double best = INFINITY;
      for (int64_t j = 0; j < h * w; ++j)
        if (y[size_t(j)]) best = std::min(best, std::hypot(double(i / w - j / w), double(i % w - j % w)));
      worst = std::max(worst, best);
    }
    return worst;
  };
  return std::max(directed(a, b), directed(b, a));
}

std::vector<uint8_t> random_blob_mask(int64_t h, int64_t w, std::mt19937& rng, double p) {
  std::bernoulli_distribution d(p);
  std::vector<uint8_t> m(size_t(h * w));
  for (auto& v : m) v = d(rng);
  return m;
}
}  // namespace

TEST_CASE("hausdorff distance equals the brute-force definition") {
  std::mt19937 rng(7);
  for (auto [h, w, p] :
       {std::tuple<int64_t, int64_t, double>{9, 13, 0.05}, {17, 11, 0.3}, {1, 20, 0.2}, {20, 1, 0.5}}) {
    for (int rep = 0; rep < 5; ++rep) {
      auto a = random_blob_mask(h, w, rng, p), b = random_blob_mask(h, w, rng, p);
      a[0] = 1;  // never empty
      b[size_t(h * w - 1)] = 1;
      CHECK(hausdorff_distance(a.data(), b.data(), h, w) ==
            doctest::Approx(brute_hausdorff(a, b, h, w)).epsilon(1e-12));
    }
  }
}

TEST_CASE("segmentation scores follow the official conventions") {
  // 2x3 image, 3 classes; class 2 absent from both -> DSC 1, HD 0.
  std::vector<uint8_t> gt{0, 1, 1, 0, 0, 1}, pred{0, 1, 0, 0, 1, 1};
  SegScores s = segmentation_scores(pred.data(), gt.data(), 2, 3, 3);
  CHECK(s.dice[0] == doctest::Approx(2.0 * 2 / (3 + 3)));
  CHECK(s.dice[1] == doctest::Approx(2.0 * 2 / (3 + 3)));
  CHECK(s.dice[2] == 1.0);
  CHECK(s.hausdorff[2] == 0.0);
  CHECK(s.hausdorff[1] == doctest::Approx(1.0));
  // class present in one mask only -> the image diagonal
  std::vector<uint8_t> gt2{0, 0, 0, 0, 0, 0};
  SegScores s2 = segmentation_scores(pred.data(), gt2.data(), 2, 3, 2);
  CHECK(s2.hausdorff[1] == doctest::Approx(std::sqrt(13.0)));
  CHECK(s2.dice[1] == 0.0);
}

TEST_CASE("classification metrics on hand-computed cases") {
  std::vector<int64_t> t{0, 0, 1, 1, 2, 2}, p{0, 1, 1, 1, 2, 0};
  CHECK(accuracy(t, p) == doctest::Approx(4.0 / 6));
  auto f = f1_per_label(t, p);  // class0 tp1 fp1 fn1 -> .5; class1 tp2 fp1 fn0 -> .8; class2 tp1 fn1 -> 2/3
  REQUIRE(f.size() == 3);
  CHECK(f[0] == doctest::Approx(0.5));
  CHECK(f[1] == doctest::Approx(0.8));
  CHECK(f[2] == doctest::Approx(2.0 / 3));
  CHECK(f1_macro(t, p) == doctest::Approx((0.5 + 0.8 + 2.0 / 3) / 3));
  CHECK(mcc({0, 1, 0, 1}, {0, 1, 0, 1}) == doctest::Approx(1.0));
  CHECK(mcc({0, 1, 0, 1}, {1, 0, 1, 0}) == doctest::Approx(-1.0));
  CHECK(mcc({0, 0, 0}, {0, 0, 0}) == 0.0);  // undefined -> 0
  CHECK(*auc_binary({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}) == doctest::Approx(0.75));
  CHECK(*auc_binary({0, 1, 0, 1}, {0.5, 0.5, 0.5, 0.5}) == doctest::Approx(0.5));  // ties count one half
  CHECK_FALSE(auc_binary({1, 1, 1}, {0.2, 0.3, 0.4}).has_value());
  std::vector<std::vector<double>> probs{{0.7, 0.2, 0.1}, {0.2, 0.5, 0.3}, {0.1, 0.1, 0.8}, {0.3, 0.4, 0.3}};
  CHECK(auc_ovr_macro({0, 1, 2, 1}, probs).has_value());
  CHECK_FALSE(auc_ovr_macro({0, 1, 1, 1}, probs).has_value());  // a class missing from y_true
  probs[0][0] = 0.9;                                            // rows no longer sum to 1
  CHECK_FALSE(auc_ovr_macro({0, 1, 2, 1}, probs).has_value());
}

TEST_CASE("box IoU and mean radial error") {
  double a[4] = {0, 0, 10, 10}, b[4] = {5, 5, 15, 15}, c[4] = {20, 20, 30, 30};
  CHECK(box_iou(a, b) == doctest::Approx(25.0 / 175));
  CHECK(box_iou(a, c) == 0.0);
  CHECK(box_iou(a, a) == 1.0);
  CHECK(mean_radial_error({0, 0, 3, 4}, {0, 0, 0, 0}) == doctest::Approx(2.5));
}

TEST_CASE("metrics equal scikit-learn and SimpleITK on the reference fixtures") {
  const std::string path = sono::test::ref_fixture("metrics/metrics.json", "tools/reference/make_fixtures.sh");
  if (path.empty()) return;
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path);
  nlohmann::json j = nlohmann::json::parse(in);
  for (const auto& c : j["classification"]) {
    auto t = c["y_true"].get<std::vector<int64_t>>();
    auto p = c["y_pred"].get<std::vector<int64_t>>();
    auto probs = c["probs"].get<std::vector<std::vector<double>>>();
    CHECK(accuracy(t, p) == doctest::Approx(c["accuracy"].get<double>()).epsilon(1e-9));
    CHECK(f1_macro(t, p) == doctest::Approx(c["f1_macro"].get<double>()).epsilon(1e-9));
    CHECK(f1_weighted(t, p) == doctest::Approx(c["f1_weighted"].get<double>()).epsilon(1e-9));
    CHECK(std::fabs(mcc(t, p) - c["mcc"].get<double>()) <= 1e-9);
    std::optional<double> auc;
    if (probs[0].size() == 2) {
      std::vector<double> s;
      for (auto& r : probs) s.push_back(r[1]);
      auc = auc_binary(t, s);
    } else {
      auc = auc_ovr_macro(t, probs);
    }
    CHECK(auc.value_or(0.0) == doctest::Approx(c["auc"].get<double>()).epsilon(1e-9));
  }
  for (const auto& c : j["hausdorff"]) {
    auto a = c["a"].get<std::vector<uint8_t>>(), b = c["b"].get<std::vector<uint8_t>>();
    int64_t h = c["h"], w = c["w"];
    CHECK(hausdorff_distance(a.data(), b.data(), h, w) == doctest::Approx(c["hd"].get<double>()).epsilon(1e-6));
  }
}
