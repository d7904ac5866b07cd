#include "data/prepare.h"

#include "core/error.h"
#include "data/dataset.h"
#include "data/resize.h"

namespace sono::data {

namespace {

// Runs f, prefixing any error with the sample's CSV row.
template <class F>
auto with_row(const Sample& s, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(str_cat(row_location(s), ": ", e.what()));
  }
}

std::string cache_key(const std::string& path, int64_t size) { return str_cat(size, '|', path); }

}  // namespace

ResizedImage load_resized_image(const Sample& s, int64_t size) {
  return with_row(s, [&] {
    Image img = read_image(s.image_path);
    ResizedImage r;
    r.height = img.height;
    r.width = img.width;
    r.image = resize_linear(img, size, size);
    return r;
  });
}

Image load_resized_mask(const Sample& s, int64_t size, int64_t image_height, int64_t image_width) {
  return with_row(s, [&] {
    Image mask = read_mask(s.mask_path, s.num_classes);
    SONO_CHECK(mask.height == image_height && mask.width == image_width, "load_resized_mask", "mask '", s.mask_path,
               "' is ", mask.width, "x", mask.height, " (width x height) but image '", s.image_path, "' is ",
               image_width, "x", image_height);
    return resize_nearest(mask, size, size);
  });
}

void box_target(const Sample& s, int64_t height, int64_t width, float out[4]) {
  if (!s.has_box) {
    for (int k = 0; k < 4; ++k) out[k] = -1.0f;
    return;
  }
  check_box_in_image(s, height, width);
  out[0] = float(s.box.x_min / double(width));
  out[1] = float(s.box.y_min / double(height));
  out[2] = float(s.box.x_max / double(width));
  out[3] = float(s.box.y_max / double(height));
}

void point_targets(const Sample& s, int64_t height, int64_t width, float* out) {
  for (size_t i = 0; i < s.points.size(); ++i) out[i] = float(s.points[i]) / float(i % 2 == 0 ? width : height);
}

std::shared_ptr<const ResizedImage> ImageCache::image(const Sample& s, int64_t size) {
  const std::string key = cache_key(s.image_path, size);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = images_.find(key);
    if (it != images_.end()) {
      ++hits_;
      return it->second;
    }
  }
  // Decode outside the lock; two threads may both decode a new image, the
  // results are identical and the first insert wins.
  auto r = std::make_shared<const ResizedImage>(load_resized_image(s, size));
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = images_.emplace(key, r);
  ++misses_;
  if (inserted) bytes_ += int64_t(r->image.pixels.size());
  return it->second;
}

std::shared_ptr<const Image> ImageCache::mask(const Sample& s, int64_t size, int64_t image_height,
                                              int64_t image_width) {
  const std::string key = cache_key(s.mask_path, size);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = masks_.find(key);
    if (it != masks_.end()) {
      ++hits_;
      return it->second;
    }
  }
  auto m = std::make_shared<const Image>(load_resized_mask(s, size, image_height, image_width));
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = masks_.emplace(key, m);
  ++misses_;
  if (inserted) bytes_ += int64_t(m->pixels.size());
  return it->second;
}

int64_t ImageCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}
int64_t ImageCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}
int64_t ImageCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}
void ImageCache::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  images_.clear();
  masks_.clear();
  hits_ = misses_ = bytes_ = 0;
}

}  // namespace sono::data
