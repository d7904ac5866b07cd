#pragma once
// The baseline's training augmentation and normalisation (docs/reference-model.md 6.3),
// applied after the resize to 256x256:
// * RandomBrightnessContrast(p=0.2): alpha = 1 + U(-0.2, 0.2),
//   beta = U(-0.2, 0.2) * 255; a lookup table trunc(clip(alpha * v + beta,
//   0, 255)) computed in float32 like albucore.
// * GaussNoise(p=0.1): sigma = U(0.2, 0.44) * 255, independent N(0, sigma)
//   per pixel and channel; trunc(clip(v + n, 0, 255)).
// * Normalize: (v - 255 * mean_c) * (1 / (255 * std_c)) in float32 with the
//   ImageNet mean/std, written channel-planar (CHW).
//
// Randomness: every draw of one example is a pure function of a 64-bit key
// (Philox-4x32-10, core/philox.h, with the key as Philox key), and the key
// is example_key(seed, epoch, step, slot in the batch). So a
// run is reproducible from the seed, whatever the number of loader threads.
// The random stream is Sono's own: it does not reproduce albumentations'
// draws (those depend on Python's and NumPy's generators and the worker
// processes), only their distributions.
#include <cstdint>

#include "data/image.h"

namespace sono::data {

struct AugmentOptions {
  double brightness_contrast_p = 0.2;
  double brightness_limit = 0.2;  // beta = U(-limit, limit) * 255
  double contrast_limit = 0.2;    // alpha = 1 + U(-limit, limit)
  double noise_p = 0.1;
  double noise_std_min = 0.2, noise_std_max = 0.44;  // fractions of 255
};

// What one example draws.
struct AugmentDraw {
  bool brightness_contrast = false;
  float alpha = 1.0f, beta = 0.0f;
  bool noise = false;
  float sigma = 0.0f;  // grey levels
};

uint64_t example_key(uint64_t seed, int64_t epoch, int64_t step, int64_t slot);
AugmentDraw draw_augment(const AugmentOptions& opt, uint64_t key);

void apply_brightness_contrast(Image& img, float alpha, float beta);
// Noise element i (row-major HWC order) is the i-th normal of the key's stream.
void apply_gauss_noise(Image& img, float sigma, uint64_t key);
// draw_augment + the two transforms in the baseline's order.
AugmentDraw augment(Image& img, const AugmentOptions& opt, uint64_t key);

// The i-th standard normal of a key's noise stream (what apply_gauss_noise adds, divided by sigma).
float noise_normal(uint64_t key, uint64_t i);

// ImageNet normalisation of a 3-channel image into out[c][y][x].
void normalize_to_chw(const Image& img, float* out);

}  // namespace sono::data
