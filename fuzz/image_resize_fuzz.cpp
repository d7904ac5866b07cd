// libFuzzer target for image decoding (data/image.h: PNG, JPEG, BMP as an
// image and as a mask) and the two resizes (data/resize.h) of what decodes
// (fuzz/fuzz_targets.h for the rules). Inputs whose header claims more than
// 65,536 pixels (256x256) are only header-checked, to keep each execution
// fast: larger images run the same code over more pixels.
#include "core/error.h"
#include "data/image.h"
#include "data/resize.h"
#include "fuzz/fuzz_targets.h"

namespace sono::fuzz {

namespace {

// Reads every byte of `img` (uninitialised or short pixel data shows up under the sanitizers).
uint32_t checksum(const sono::data::Image& img) {
  uint32_t s = 0;
  for (uint8_t v : img.pixels) s = s * 31 + v;
  return s;
}

}  // namespace

bool image_resize(const uint8_t* data, size_t size) {
  using namespace sono::data;
  const std::string path = write_scratch_file("input.img", data, size);
  try {
    const ImageInfo info = read_image_info(path);
    if (info.height * info.width > (int64_t(1) << 16)) return true;
    // The input's first byte picks the output sizes: up, down, by 2, 1x1, the same.
    const int64_t sizes[][2] = {{1, 1},
                                {7, 5},
                                {32, 32},
                                {info.height, info.width},
                                {std::max<int64_t>(1, info.height / 2), std::max<int64_t>(1, info.width / 2)},
                                {2 * info.height + 1, info.width + 3}};
    const auto& s = sizes[size > 0 ? data[0] % 6 : 0];
    const Image img = read_image(path);
    volatile uint32_t sink = checksum(resize_linear(img, s[0], s[1])) + checksum(resize_nearest(img, 32, 32));
    // As a mask of 256 classes (every 8-bit gray value is in range) and of 2.
    const Image mask = read_mask(path, size % 2 == 0 ? 256 : 2);
    sink = sink + checksum(resize_nearest(mask, s[0], s[1]));
    (void)sink;
    return true;
  } catch (const sono::Error&) {
    return false;
  }
}

}  // namespace sono::fuzz

SONO_FUZZ_TARGET(image_resize)
