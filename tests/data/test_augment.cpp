#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "data/augment.h"

using namespace sono;
using namespace sono::data;

TEST_CASE("augment: draws are a pure function of (seed, epoch, step, slot)") {
  const AugmentOptions opt;
  std::set<uint64_t> keys;
  for (int64_t e = 0; e < 3; ++e)
    for (int64_t s = 0; s < 10; ++s)
      for (int64_t i = 0; i < 20; ++i) keys.insert(example_key(42, e, s, i));
  CHECK(keys.size() == 600);  // no collisions between positions
  CHECK(example_key(42, 1, 2, 3) == example_key(42, 1, 2, 3));
  CHECK(example_key(42, 1, 2, 3) != example_key(43, 1, 2, 3));

  Image img(16, 16, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 7);
  // Force both transforms to compare outputs.
  AugmentOptions always;
  always.brightness_contrast_p = 1;
  always.noise_p = 1;
  Image a = img, b = img, c = img;
  AugmentDraw da = augment(a, always, example_key(1, 0, 5, 2));
  AugmentDraw db = augment(b, always, example_key(1, 0, 5, 2));
  augment(c, always, example_key(1, 0, 5, 3));
  CHECK(da.alpha == db.alpha);
  CHECK(da.sigma == db.sigma);
  CHECK(a.pixels == b.pixels);
  CHECK(a.pixels != c.pixels);
}

TEST_CASE("augment: probabilities and parameter ranges (docs/reference-model.md 6.3)") {
  const AugmentOptions opt;
  const int n = 40000;
  int bc = 0, noise = 0;
  double alpha_sum = 0, beta_sum = 0;
  float alpha_min = 9, alpha_max = -9, beta_min = 1e9f, beta_max = -1e9f, sigma_min = 1e9f, sigma_max = -1e9f;
  for (int i = 0; i < n; ++i) {
    AugmentDraw d = draw_augment(opt, example_key(7, 0, i / 20, i % 20));
    if (d.brightness_contrast) {
      ++bc;
      alpha_sum += d.alpha;
      beta_sum += d.beta;
      alpha_min = std::min(alpha_min, d.alpha), alpha_max = std::max(alpha_max, d.alpha);
      beta_min = std::min(beta_min, d.beta), beta_max = std::max(beta_max, d.beta);
    } else {
      CHECK(d.alpha == 1.0f);
      CHECK(d.beta == 0.0f);
    }
    if (d.noise) {
      ++noise;
      sigma_min = std::min(sigma_min, d.sigma), sigma_max = std::max(sigma_max, d.sigma);
    }
  }
  // Binomial standard deviations: 0.002 and 0.0015; allow 5 of them.
  CHECK(std::abs(double(bc) / n - 0.2) < 0.01);
  CHECK(std::abs(double(noise) / n - 0.1) < 0.0075);
  CHECK(alpha_min >= 0.8f);
  CHECK(alpha_max <= 1.2f);
  CHECK(alpha_min < 0.81f);
  CHECK(alpha_max > 1.19f);
  CHECK(std::abs(alpha_sum / bc - 1.0) < 0.01);
  CHECK(beta_min >= -51.0f);
  CHECK(beta_max <= 51.0f);
  CHECK(beta_min < -50.0f);
  CHECK(std::abs(beta_sum / bc) < 2.0);
  CHECK(sigma_min >= 0.2f * 255 - 1e-3f);
  CHECK(sigma_max <= 0.44f * 255 + 1e-3f);
  CHECK(sigma_max - sigma_min > 55.0f);
}

TEST_CASE("apply_brightness_contrast: trunc(clip(alpha * v + beta)) per pixel") {
  Image img(1, 256, 1);
  for (int v = 0; v < 256; ++v) img.pixels[size_t(v)] = uint8_t(v);
  for (auto [alpha, beta] : {std::pair<float, float>{1.1f, 10.0f}, {0.85f, -30.5f}, {1.2f, 51.0f}}) {
    Image out = img;
    apply_brightness_contrast(out, alpha, beta);
    for (int v = 0; v < 256; ++v) {
      double want = std::clamp(double(alpha) * v + double(beta), 0.0, 255.0);
      CAPTURE(v);
      // Truncation; a float rounding can only matter right at an integer.
      if (std::abs(want - std::round(want)) > 1e-3) CHECK(int(out.pixels[size_t(v)]) == int(want));
    }
  }
  Image out = img;
  apply_brightness_contrast(out, 1.0f, 0.0f);
  CHECK(out.pixels == img.pixels);
}

TEST_CASE("apply_gauss_noise: zero mean, sigma, independent per pixel and channel") {
  // The standard normals themselves.
  const uint64_t key = example_key(3, 1, 4, 1);
  const int n = 200000;
  double sum = 0, sq = 0, lag = 0;
  float prev = 0;
  for (int i = 0; i < n; ++i) {
    float z = noise_normal(key, uint64_t(i));
    sum += z, sq += double(z) * z, lag += double(z) * prev;
    prev = z;
  }
  CHECK(std::abs(sum / n) < 0.01);
  CHECK(std::abs(sq / n - 1.0) < 0.015);
  CHECK(std::abs(lag / n) < 0.01);  // neighbours (e.g. the channels of a pixel) are uncorrelated

  // On a mid-grey image: out - 128 has std sigma and mean -0.5 (truncation
  // of the positive values floors them).
  Image img(256, 256, 3);
  std::fill(img.pixels.begin(), img.pixels.end(), uint8_t(128));
  apply_gauss_noise(img, 30.0f, key);
  double m = 0, v = 0;
  for (uint8_t p : img.pixels) m += p - 128.0;
  m /= double(img.pixels.size());
  for (uint8_t p : img.pixels) v += (p - 128.0 - m) * (p - 128.0 - m);
  v /= double(img.pixels.size());
  CHECK(std::abs(m + 0.5) < 0.3);
  CHECK(std::abs(std::sqrt(v) - 30.0) < 0.6);
  // Element i of the image got sigma * normal i, truncated.
  Image one(1, 5, 3);
  std::fill(one.pixels.begin(), one.pixels.end(), uint8_t(100));
  apply_gauss_noise(one, 20.0f, key);
  for (int i = 0; i < 15; ++i)
    CHECK(int(one.pixels[size_t(i)]) == int(std::clamp(100.0f + noise_normal(key, uint64_t(i)) * 20.0f, 0.0f, 255.0f)));
}

TEST_CASE("normalize_to_chw: ImageNet mean/std, channel-planar") {
  Image img(2, 3, 3);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 13 + 1);
  std::vector<float> out(18);
  normalize_to_chw(img, out.data());
  const double mean[3] = {0.485, 0.456, 0.406}, stdv[3] = {0.229, 0.224, 0.225};
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 2; ++y)
      for (int64_t x = 0; x < 3; ++x) {
        double want = (img.at(y, x, c) / 255.0 - mean[c]) / stdv[c];
        CHECK(std::abs(out[size_t(c * 6 + y * 3 + x)] - want) < 1e-5 * (1 + std::abs(want)));
      }
  CHECK_THROWS_WITH_AS(normalize_to_chw(Image(2, 2, 1), out.data()), doctest::Contains("normalize_to_chw"), Error);
}
