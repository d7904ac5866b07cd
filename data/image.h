#pragma once
// 8-bit images in memory and on disk (stb_image / stb_image_write).
//
// Decoding follows cv2.imread as the baseline calls it:
// * images (IMREAD_COLOR, then BGR -> RGB): always 3 channels; gray is
//   replicated, alpha is dropped, and 16-bit PNGs keep their high byte
//   (v >> 8, like libpng's strip_16 that OpenCV uses). PNG and BMP decode
//   bit-identically to OpenCV; JPEG may differ by a few grey levels (stb has
//   its own IDCT and chroma upsampling).
// * masks: one channel of class indices. Colour masks whose channels are
//   equal are accepted (cv2's gray conversion gives the same values); other
//   colour masks and 16-bit masks are rejected, since their class values
//   would be silently altered.
#include <cstdint>
#include <string>
#include <vector>

namespace sono::data {

// Row-major height x width x channels bytes.
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int64_t h, int64_t w, int64_t c) : height(h), width(w), channels(c), pixels(size_t(h * w * c)) {}
  uint8_t* row(int64_t y) { return pixels.data() + y * width * channels; }
  const uint8_t* row(int64_t y) const { return pixels.data() + y * width * channels; }
  uint8_t& at(int64_t y, int64_t x, int64_t c = 0) { return pixels[size_t((y * width + x) * channels + c)]; }
  uint8_t at(int64_t y, int64_t x, int64_t c = 0) const { return pixels[size_t((y * width + x) * channels + c)]; }
  bool empty() const { return pixels.empty(); }
};

struct ImageInfo {
  int64_t height = 0, width = 0, channels = 0;  // channels as stored in the file
};

// The most pixels (width x height) an image may have: 16384 x 16384. Larger
// headers are refused as "too large" before anything is decoded.
constexpr int64_t kMaxImagePixels = int64_t(1) << 28;

// Every reader refuses, naming the file: a directory, a missing file, an
// image over kMaxImagePixels; read_image and read_mask also a PNG without its
// IEND chunk (truncated; stb would decode what is there).
// Size from the file header only (fast); throws naming the file when unreadable.
ImageInfo read_image_info(const std::string& path);
// RGB, 3 channels.
Image read_image(const std::string& path);
// One channel; throws naming the file and the value when a pixel is >= num_classes.
Image read_mask(const std::string& path, int64_t num_classes);
// Writes an 8-bit PNG with 1 (gray), 3 (RGB) or 4 channels.
void write_png(const std::string& path, const Image& img);

}  // namespace sono::data
