#include "data/image.h"

#include <cstdio>
#include <memory>

#include "core/error.h"
#include "data/jpeg_check.h"

// The one translation unit holding the stb implementations.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_FAILURE_USERMSG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

namespace sono::data {

namespace {

struct StbFree {
  void operator()(stbi_uc* p) const { stbi_image_free(p); }
};
using StbPixels = std::unique_ptr<stbi_uc, StbFree>;

// The whole file, refused (naming it) when unreadable or when stb must not see it (data/jpeg_check.h).
std::vector<stbi_uc> read_file(const std::string& path, const char* what) {
  // C stdio: a directory or a read error is an ferror, never an exception from the stream buffer.
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  SONO_CHECK(f != nullptr, what, "cannot open image file '", path, "'");
  std::vector<stbi_uc> bytes;
  stbi_uc buf[1 << 16];
  for (size_t got; (got = std::fread(buf, 1, sizeof buf, f.get())) > 0;) bytes.insert(bytes.end(), buf, buf + got);
  SONO_CHECK(!std::ferror(f.get()), what, "cannot read image file '", path, "' (a directory?)");
  SONO_CHECK(jpeg_huffman_tables_ok(bytes.data(), bytes.size()), what, "cannot decode image file '", path,
             "': corrupt JPEG (a Huffman table with more than 256 codes)");
  return bytes;
}

int stb_size(const std::vector<stbi_uc>& bytes, const std::string& path, const char* what) {
  SONO_CHECK(bytes.size() <= size_t(INT32_MAX), what, "image file '", path, "' is too large (", bytes.size(),
             " bytes)");
  return int(bytes.size());
}

// Decodes with the file's own channel count; 16-bit PNGs become 8-bit (high byte).
StbPixels load(const std::vector<stbi_uc>& bytes, const std::string& path, const char* what, int& w, int& h, int& n,
               int want_channels) {
  StbPixels p(stbi_load_from_memory(bytes.data(), stb_size(bytes, path, what), &w, &h, &n, want_channels));
  SONO_CHECK(p != nullptr, what, "cannot decode image file '", path, "': ", stbi_failure_reason(),
             " (supported: PNG, JPEG, BMP)");
  return p;
}

}  // namespace

ImageInfo read_image_info(const std::string& path) {
  int w = 0, h = 0, n = 0;
  const std::vector<stbi_uc> bytes = read_file(path, "read_image_info");
  SONO_CHECK(stbi_info_from_memory(bytes.data(), stb_size(bytes, path, "read_image_info"), &w, &h, &n),
             "read_image_info", "cannot read the header of image file '", path, "': ", stbi_failure_reason());
  return {h, w, n};
}

Image read_image(const std::string& path) {
  int w = 0, h = 0, n = 0;
  StbPixels p =
      load(read_file(path, "read_image"), path, "read_image", w, h, n, 3);  // stb replicates gray and drops alpha
  Image img(h, w, 3);
  std::copy(p.get(), p.get() + img.pixels.size(), img.pixels.begin());
  return img;
}

Image read_mask(const std::string& path, int64_t num_classes) {
  const std::vector<stbi_uc> bytes = read_file(path, "read_mask");
  SONO_CHECK(!stbi_is_16_bit_from_memory(bytes.data(), stb_size(bytes, path, "read_mask")), "read_mask", "mask file '",
             path, "' is a 16-bit image: masks must be 8-bit (one class index per pixel)");
  int w = 0, h = 0, n = 0;
  StbPixels p = load(bytes, path, "read_mask", w, h, n, 0);
  const int colour = (n == 2 || n == 4) ? n - 1 : n;  // channels without alpha
  Image mask(h, w, 1);
  const stbi_uc* src = p.get();
  for (int64_t i = 0; i < int64_t(w) * h; ++i) {
    const stbi_uc* px = src + i * n;
    for (int c = 1; c < colour; ++c)
      SONO_CHECK(px[c] == px[0], "read_mask", "mask file '", path, "' has colour pixels (at x=", i % w, ", y=", i / w,
                 ": ", int(px[0]), "/", int(px[1]), "/", int(px[2]), "): masks must hold one class index per pixel");
    SONO_CHECK(px[0] < num_classes, "read_mask", "mask file '", path, "' holds value ", int(px[0]), " at x=", i % w,
               ", y=", i / w, ", but the task has ", num_classes, " classes (values 0..", num_classes - 1, ")");
    mask.pixels[size_t(i)] = px[0];
  }
  return mask;
}

void write_png(const std::string& path, const Image& img) {
  SONO_CHECK(img.channels == 1 || img.channels == 3 || img.channels == 4, "write_png", "cannot write ", img.channels,
             "-channel image to '", path, "'");
  SONO_CHECK(!img.empty() && int64_t(img.pixels.size()) == img.height * img.width * img.channels, "write_png",
             "image for '", path, "' is empty or inconsistent (", img.height, "x", img.width, "x", img.channels, ")");
  int ok = stbi_write_png(path.c_str(), int(img.width), int(img.height), int(img.channels), img.pixels.data(),
                          int(img.width * img.channels));
  SONO_CHECK(ok != 0, "write_png", "cannot write '", path, "'");
}

}  // namespace sono::data
