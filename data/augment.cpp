#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/philox.h"

namespace sono::data {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Word layout of a key's stream: the draws first, the noise from block 4 on.
enum Word : uint64_t { kBcCoin = 0, kAlpha = 1, kBeta = 2, kNoiseCoin = 3, kSigma = 4 };
constexpr uint64_t kNoiseBlock = 4;

float uniform(uint64_t key, uint64_t word, double lo, double hi) {
  return float(lo + (hi - lo) * double(philox_uniform(key, word)));
}

// Four standard normals from one Philox block (two Box-Muller pairs).
void normals4(uint64_t key, uint64_t block, float out[4]) {
  Philox4 r =
      philox4x32_10(Philox4{{uint32_t(block), uint32_t(block >> 32), 0u, 0u}}, uint32_t(key), uint32_t(key >> 32));
  for (int p = 0; p < 2; ++p) {
    float u1 = (float(r.v[2 * p] >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
    float u2 = float(r.v[2 * p + 1] >> 8) * (1.0f / 16777216.0f);       // [0, 1)
    float radius = std::sqrt(-2.0f * std::log(u1));
    float angle = 6.28318530717958647692f * u2;
    out[2 * p] = radius * std::cos(angle);
    out[2 * p + 1] = radius * std::sin(angle);
  }
}

uint8_t truncate_clip(float v) { return uint8_t(std::clamp(v, 0.0f, 255.0f)); }

}  // namespace

uint64_t example_key(uint64_t seed, int64_t epoch, int64_t step, int64_t slot) {
  uint64_t k = splitmix64(seed);
  for (int64_t v : {epoch, step, slot}) k = splitmix64(k ^ uint64_t(v));
  return k;
}

AugmentDraw draw_augment(const AugmentOptions& opt, uint64_t key) {
  AugmentDraw d;
  d.brightness_contrast = philox_uniform(key, kBcCoin) < opt.brightness_contrast_p;
  if (d.brightness_contrast) {
    d.alpha = 1.0f + uniform(key, kAlpha, -opt.contrast_limit, opt.contrast_limit);
    d.beta = uniform(key, kBeta, -opt.brightness_limit, opt.brightness_limit) * 255.0f;
  }
  d.noise = philox_uniform(key, kNoiseCoin) < opt.noise_p;
  if (d.noise) d.sigma = uniform(key, kSigma, opt.noise_std_min, opt.noise_std_max) * 255.0f;
  return d;
}

void apply_brightness_contrast(Image& img, float alpha, float beta) {
  uint8_t lut[256];
  for (int v = 0; v < 256; ++v) {
    float scaled = float(v) * alpha;  // two float32 steps, as numpy evaluates them
    lut[v] = truncate_clip(scaled + beta);
  }
  for (uint8_t& p : img.pixels) p = lut[p];
}

float noise_normal(uint64_t key, uint64_t i) {
  float n[4];
  normals4(key, kNoiseBlock + i / 4, n);
  return n[i % 4];
}

void apply_gauss_noise(Image& img, float sigma, uint64_t key) {
  const int64_t count = int64_t(img.pixels.size());
  uint8_t* p = img.pixels.data();
  float n[4];
  for (int64_t i = 0; i < count; i += 4) {
    normals4(key, kNoiseBlock + uint64_t(i) / 4, n);
    for (int64_t k = 0; k < 4 && i + k < count; ++k) p[i + k] = truncate_clip(float(p[i + k]) + n[k] * sigma);
  }
}

AugmentDraw augment(Image& img, const AugmentOptions& opt, uint64_t key) {
  AugmentDraw d = draw_augment(opt, key);
  if (d.brightness_contrast) apply_brightness_contrast(img, d.alpha, d.beta);
  if (d.noise) apply_gauss_noise(img, d.sigma, key);
  return d;
}

void normalize_to_chw(const Image& img, float* out) {
  SONO_CHECK(img.channels == 3, "normalize_to_chw", "expected a 3-channel image, got ", img.channels, " channels");
  static const float kMean[3] = {0.485f, 0.456f, 0.406f};
  static const float kStd[3] = {0.229f, 0.224f, 0.225f};
  float lut[3][256];
  for (int c = 0; c < 3; ++c) {
    const float mean = kMean[c] * 255.0f;
    const float inv_std = 1.0f / (kStd[c] * 255.0f);
    for (int v = 0; v < 256; ++v) lut[c][v] = (float(v) - mean) * inv_std;
  }
  const int64_t plane = img.height * img.width;
  const uint8_t* p = img.pixels.data();
  for (int64_t i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) out[c * plane + i] = lut[c][p[i * 3 + c]];
}

}  // namespace sono::data
