#include "data/image.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "core/error.h"
#include "data/jpeg_check.h"
#include "io/atomic_file.h"

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
  const std::string jpeg_problem = jpeg_huffman_problem(bytes.data(), bytes.size());
  SONO_CHECK(jpeg_problem.empty(), what, "cannot decode image file '", path, "': corrupt JPEG (", jpeg_problem, ")");
  return bytes;
}

int stb_size(const std::vector<stbi_uc>& bytes, const std::string& path, const char* what) {
  SONO_CHECK(bytes.size() <= size_t(INT32_MAX), what, "image file '", path, "' is too large (", bytes.size(),
             " bytes)");
  return int(bytes.size());
}

// Why a path cannot be an image file at all (a directory, missing); empty when it may be one.
std::string not_a_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return str_cat("'", path, "' is a directory, not an image file");
  if (!std::filesystem::exists(path, ec)) return str_cat("image file '", path, "' does not exist");
  return "";
}

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
int32_t le32(const uint8_t* p) {
  return int32_t(uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
}

const uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

bool is_png(const std::vector<uint8_t>& b) {
  return b.size() >= 8 && std::equal(kPngSignature, kPngSignature + 8, b.begin());
}

// The size a PNG (IHDR) or BMP header claims, without decoding; false for
// other formats (JPEG) or a header too short to say.
bool claimed_size(const std::vector<uint8_t>& b, int64_t& w, int64_t& h) {
  if (is_png(b) && b.size() >= 24 && std::equal(b.begin() + 12, b.begin() + 16, "IHDR")) {
    w = be32(&b[16]);
    h = be32(&b[20]);
    return true;
  }
  if (b.size() >= 26 && b[0] == 'B' && b[1] == 'M') {
    w = std::abs(int64_t(le32(&b[18])));
    h = std::abs(int64_t(le32(&b[22])));  // negative: stored top-down
    return true;
  }
  return false;
}

// The checks stb does not make, or makes with a misleading message: a
// directory or missing file, an image over kMaxImagePixels (stb says "not of
// any known type" for a header beyond its own limits), and, with `whole`, a
// PNG that ends before its IEND chunk (stb decodes such truncated files).
void check_file(const std::string& path, const char* what, const std::vector<uint8_t>& bytes, bool whole) {
  int64_t w = 0, h = 0;
  // Both sides are below 2^32 (PNG: 32-bit unsigned, BMP: |int32|): their product fits 64 unsigned bits.
  if (claimed_size(bytes, w, h)) {
    const uint64_t pixels = uint64_t(w) * uint64_t(h);
    SONO_CHECK(pixels <= uint64_t(kMaxImagePixels), what, "image file '", path, "' is too large: its header says ", w,
               "x", h, " (width x height) = ", pixels, " pixels, the limit is ", kMaxImagePixels, " pixels");
  }
  if (!whole || !is_png(bytes)) return;
  size_t pos = 8;
  while (pos + 8 <= bytes.size()) {
    if (std::equal(bytes.begin() + long(pos) + 4, bytes.begin() + long(pos) + 8, "IEND")) return;
    pos += 12 + size_t(be32(&bytes[pos]));
  }
  throw Error(str_cat(what, ": PNG file '", path, "' is truncated: it ends after ", bytes.size(),
                      " bytes without the IEND chunk (a PNG must end with IEND; a file that stops early is refused ",
                      "even where its first rows would decode)"));
}

// Removes the PNG's zero-length IDAT chunks, which carry no image data: for
// one that comes first, stb_image 2.27 calls memcpy with a null destination
// (stbi__getn; undefined behaviour, found by fuzz/image_resize_fuzz.cpp).
// Runs after check_file, so the chunk walk ends at IEND inside the file.
void drop_empty_idat(std::vector<uint8_t>& bytes) {
  if (!is_png(bytes)) return;
  size_t pos = 8;
  while (pos + 12 <= bytes.size()) {
    const uint32_t length = be32(&bytes[pos]);
    const bool idat = std::equal(bytes.begin() + long(pos) + 4, bytes.begin() + long(pos) + 8, "IDAT");
    if (std::equal(bytes.begin() + long(pos) + 4, bytes.begin() + long(pos) + 8, "IEND")) return;
    if (idat && length == 0) {
      bytes.erase(bytes.begin() + long(pos), bytes.begin() + long(pos) + 12);
      continue;
    }
    pos += 12 + size_t(length);
  }
}

// The whole file, checked (check_file) and ready for stb.
std::vector<uint8_t> read_checked(const std::string& path, const char* what) {
  const std::string why = not_a_file(path);
  SONO_CHECK(why.empty(), what, why);
  std::vector<uint8_t> bytes = read_file(path, what);
  check_file(path, what, bytes, true);
  drop_empty_idat(bytes);
  return bytes;
}

// Decodes with the file's own channel count; 16-bit PNGs become 8-bit (high byte).
StbPixels load(const std::string& path, const std::vector<uint8_t>& bytes, const char* what, int& w, int& h, int& n,
               int want_channels) {
  StbPixels p(stbi_load_from_memory(bytes.data(), stb_size(bytes, path, what), &w, &h, &n, want_channels));
  SONO_CHECK(p != nullptr, what, "cannot decode image file '", path, "': ", stbi_failure_reason(),
             " (supported: PNG, JPEG, BMP)");
  return p;
}

}  // namespace

ImageInfo read_image_info(const std::string& path) {
  const std::string why = not_a_file(path);
  SONO_CHECK(why.empty(), "read_image_info", why);
  const std::vector<stbi_uc> bytes = read_file(path, "read_image_info");
  check_file(path, "read_image_info", bytes, false);
  int w = 0, h = 0, n = 0;
  SONO_CHECK(stbi_info_from_memory(bytes.data(), stb_size(bytes, path, "read_image_info"), &w, &h, &n),
             "read_image_info", "cannot read the header of image file '", path, "': ", stbi_failure_reason());
  // stb 2.27 passes a BMP's signed height through (negative: rows stored top-down); its loader takes |h|.
  return {std::abs(int64_t(h)), w, n};
}

Image read_image(const std::string& path) {
  int w = 0, h = 0, n = 0;
  const std::vector<uint8_t> bytes = read_checked(path, "read_image");
  StbPixels p = load(path, bytes, "read_image", w, h, n, 3);  // stb replicates gray and drops alpha
  Image img(h, w, 3);
  std::copy(p.get(), p.get() + img.pixels.size(), img.pixels.begin());
  return img;
}

Image read_mask(const std::string& path, int64_t num_classes) {
  const std::vector<uint8_t> bytes = read_checked(path, "read_mask");
  SONO_CHECK(!stbi_is_16_bit_from_memory(bytes.data(), stb_size(bytes, path, "read_mask")), "read_mask", "mask file '",
             path, "' is a 16-bit image: masks must be 8-bit (one class index per pixel)");
  int w = 0, h = 0, n = 0;
  StbPixels p = load(path, bytes, "read_mask", w, h, n, 0);
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
  // Encoded in memory and written through AtomicFile: stbi_write_png's own
  // fwrite/fclose are unchecked, so a full disk would leave an empty file.
  std::string bytes;
  auto append = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size_t(size));
  };
  int ok = stbi_write_png_to_func(append, &bytes, int(img.width), int(img.height), int(img.channels), img.pixels.data(),
                                  int(img.width * img.channels));
  SONO_CHECK(ok != 0, "write_png", "cannot encode '", path, "'");
  nn::write_file_atomically(path, bytes);
}

}  // namespace sono::data
