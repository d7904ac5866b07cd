#pragma once
// The deterministic half of making a training example: decode and resize
// the image (and mask) of a sample, plus the targets in the baseline's
// encoding. ImageCache keeps the resized bytes, so later epochs skip the
// decoding; augmentation happens afterwards on a copy.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "data/image.h"
#include "data/sample.h"

namespace sono::data {

struct ResizedImage {
  int64_t height = 0, width = 0;  // of the original image
  Image image;                    // size x size x 3 (cv2 INTER_LINEAR)
};

// Decodes (RGB) and resizes; errors name the sample's CSV row.
ResizedImage load_resized_image(const Sample& s, int64_t size);
// Decodes the mask (values checked against num_classes, size against the
// image's) and resizes it with INTER_NEAREST to size x size.
Image load_resized_mask(const Sample& s, int64_t size, int64_t image_height, int64_t image_width);

// Targets in the baseline's encoding (dataset.py + albumentations):
// box: x / W and y / H of the original image (Resize keeps normalised boxes,
// and the final division by 256 undoes the scaling to 256), (-1, -1, -1, -1)
// when the row has no box; points: x / W, y / H in float32.
void box_target(const Sample& s, int64_t height, int64_t width, float out[4]);
void point_targets(const Sample& s, int64_t height, int64_t width, float* out);

// Thread-safe cache of resized images and masks, keyed by path and size.
// Unbounded: about size*size*3 bytes per distinct image (196 KB at 256).
class ImageCache {
 public:
  std::shared_ptr<const ResizedImage> image(const Sample& s, int64_t size);
  std::shared_ptr<const Image> mask(const Sample& s, int64_t size, int64_t image_height, int64_t image_width);

  int64_t hits() const;
  int64_t misses() const;
  int64_t bytes() const;
  void clear();

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const ResizedImage>> images_;
  std::unordered_map<std::string, std::shared_ptr<const Image>> masks_;
  int64_t hits_ = 0, misses_ = 0, bytes_ = 0;
};

}  // namespace sono::data
