#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/resize.h"
#include "tests/support/skip.h"

using namespace sono;
using namespace sono::data;

namespace {

Image random_image(int64_t h, int64_t w, int64_t c, uint32_t seed) {
  Image img(h, w, c);
  uint32_t s = seed * 2654435761u + 1;
  for (auto& p : img.pixels) {
    s = s * 1664525u + 1013904223u;
    p = uint8_t(s >> 24);
  }
  return img;
}

// OpenCV's INTER_LINEAR for 8-bit, written out per output pixel: the source
// coordinate and fixed-point weights (scale 2048) per axis, the horizontal
// sum for the two source rows, and the vertical combination with 16-bit
// high multiplies.
int ref_coef(float v) { return int(std::lrint(v)); }

struct RefTap {
  int i0, i1, w0, w1;
};

RefTap ref_tap(int64_t d, int64_t src, int64_t dst, bool clamp_weights) {
  double scale = 1.0 / (double(dst) / double(src));
  float f = float((d + 0.5) * scale - 0.5);
  int s = int(std::floor(f));
  f -= float(s);
  if (clamp_weights) {  // columns: the edge pixel takes the whole weight
    if (s < 0) s = 0, f = 0;
    if (s >= src - 1) s = int(src - 1), f = 0;
  }
  auto clampi = [&](int v) { return v < 0 ? 0 : (v >= src ? int(src - 1) : v); };
  return {clampi(s), clampi(s + 1), ref_coef((1.f - f) * 2048.f), ref_coef(f * 2048.f)};
}

Image reference_linear(const Image& src, int64_t oh, int64_t ow) {
  Image out(oh, ow, src.channels);
  for (int64_t y = 0; y < oh; ++y) {
    RefTap ty = ref_tap(y, src.height, oh, false);
    for (int64_t x = 0; x < ow; ++x) {
      RefTap tx = ref_tap(x, src.width, ow, true);
      for (int64_t c = 0; c < src.channels; ++c) {
        int h0 = src.at(ty.i0, tx.i0, c) * tx.w0 + src.at(ty.i0, tx.i1, c) * tx.w1;
        int h1 = src.at(ty.i1, tx.i0, c) * tx.w0 + src.at(ty.i1, tx.i1, c) * tx.w1;
        int v = ((((h0 >> 4) * ty.w0) >> 16) + (((h1 >> 4) * ty.w1) >> 16) + 2) >> 2;
        out.at(y, x, c) = uint8_t(std::min(255, std::max(0, v)));
      }
    }
  }
  return out;
}

std::vector<uint8_t> gray_pattern() {  // 4x5: (i*37 + j*11 + 5) % 256
  std::vector<uint8_t> v;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 5; ++j) v.push_back(uint8_t((i * 37 + j * 11 + 5) % 256));
  return v;
}

Image from_values(int64_t h, int64_t w, int64_t c, const std::vector<uint8_t>& v) {
  Image img(h, w, c);
  REQUIRE(v.size() == img.pixels.size());
  img.pixels = v;
  return img;
}

}  // namespace

TEST_CASE("resize_linear: equals a per-pixel statement of OpenCV's fixed-point algorithm") {
  const int64_t sizes[][5] = {{13, 17, 1, 31, 29}, {40, 30, 3, 17, 23}, {7, 9, 3, 50, 41},   {1, 1, 3, 4, 5},
                              {1, 6, 1, 3, 2},     {25, 3, 4, 9, 11},   {30, 31, 3, 29, 30}, {64, 48, 3, 20, 20}};
  uint32_t seed = 1;
  for (const auto& s : sizes) {
    CAPTURE(s[0]);
    CAPTURE(s[1]);
    CAPTURE(s[3]);
    CAPTURE(s[4]);
    Image src = random_image(s[0], s[1], s[2], seed++);
    Image got = resize_linear(src, s[3], s[4]);
    CHECK(got.height == s[3]);
    CHECK(got.width == s[4]);
    CHECK(got.channels == s[2]);
    CHECK(got.pixels == reference_linear(src, s[3], s[4]).pixels);
  }
}

TEST_CASE("resize_linear / resize_nearest: outputs of cv2.resize (OpenCV 4.6)") {
  Image src = from_values(4, 5, 1, gray_pattern());
  // cv2.resize(src, (3, 7), interpolation=INTER_LINEAR) etc.
  CHECK(resize_linear(src, 7, 3).pixels == std::vector<uint8_t>{9,   27, 45,  22,  40,  58,  43,  61,  79,  64, 83,
                                                                101, 85, 104, 122, 106, 125, 143, 120, 138, 156});
  CHECK(resize_linear(src, 3, 9).pixels == std::vector<uint8_t>{11,  15,  21,  27,  33,  39,  45,  51,  55,
                                                                61,  64,  70,  76,  83,  89,  95,  101, 105,
                                                                110, 113, 120, 126, 132, 138, 144, 150, 154});
  CHECK(resize_nearest(src, 7, 3).pixels ==
        std::vector<uint8_t>{5, 16, 38, 5, 16, 38, 42, 53, 75, 42, 53, 75, 79, 90, 112, 79, 90, 112, 116, 127, 149});
  CHECK(resize_nearest(src, 3, 9).pixels == std::vector<uint8_t>{5,  5,  16, 16, 27,  27,  38,  38,  49,
                                                                 42, 42, 53, 53, 64,  64,  75,  75,  86,
                                                                 79, 79, 90, 90, 101, 101, 112, 112, 123});
  // RGB 3x4 (value (i*53 + j*29 + c*97 + 3) % 256) -> 5x7: 21-byte rows, so
  // the last bytes of a row take OpenCV's scalar tail, which must agree too.
  std::vector<uint8_t> v;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j)
      for (int c = 0; c < 3; ++c) v.push_back(uint8_t((i * 53 + j * 29 + c * 97 + 3) % 256));
  CHECK(resize_linear(from_values(3, 4, 3, v), 5, 7).pixels ==
        std::vector<uint8_t>{3,   100, 197, 13,  110, 207, 30,  127, 224, 46,  143, 240, 63,  160, 239, 79,  177, 109,
                             90,  187, 28,  24,  121, 218, 35,  131, 192, 51,  148, 150, 68,  165, 159, 84,  181, 165,
                             101, 198, 94,  111, 208, 49,  56,  153, 250, 66,  163, 169, 83,  180, 39,  100, 197, 38,
                             116, 213, 54,  133, 230, 71,  143, 240, 81,  88,  185, 128, 98,  195, 102, 115, 212, 60,
                             131, 151, 69,  148, 91,  86,  164, 108, 102, 175, 118, 113, 109, 206, 47,  119, 216, 57,
                             136, 233, 74,  152, 121, 90,  169, 10,  107, 185, 27,  124, 196, 37,  134});
}

TEST_CASE("resize_linear: special cases") {
  Image src = random_image(12, 10, 3, 9);
  CHECK(resize_linear(src, 12, 10).pixels == src.pixels);  // same size: a copy
  // Exact 2x downscale: OpenCV switches to INTER_AREA, (a + b + c + d + 2) >> 2.
  Image half = resize_linear(src, 6, 5);
  for (int64_t y = 0; y < 6; ++y)
    for (int64_t x = 0; x < 5; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        int sum = src.at(2 * y, 2 * x, c) + src.at(2 * y, 2 * x + 1, c) + src.at(2 * y + 1, 2 * x, c) +
                  src.at(2 * y + 1, 2 * x + 1, c);
        CHECK(int(half.at(y, x, c)) == (sum + 2) >> 2);
      }
  // Constant images stay constant at any scale (the weights sum to 2048).
  for (int v : {0, 1, 128, 254, 255}) {
    Image flat(9, 14, 3);
    std::fill(flat.pixels.begin(), flat.pixels.end(), uint8_t(v));
    for (auto [h, w] : {std::pair<int64_t, int64_t>{256, 256}, {5, 3}, {9, 40}})
      for (uint8_t p : resize_linear(flat, h, w).pixels) REQUIRE(int(p) == v);
  }
  CHECK_THROWS_WITH_AS(resize_linear(Image(), 4, 4), doctest::Contains("resize_linear: empty source"), Error);
  CHECK_THROWS_WITH_AS(resize_nearest(src, 0, 4), doctest::Contains("resize_nearest: output size"), Error);
}

TEST_CASE("resize_nearest: floor(dst * src / dst) per axis, any channel count") {
  Image src = random_image(7, 11, 2, 4);
  for (auto [h, w] : {std::pair<int64_t, int64_t>{256, 256}, {3, 5}, {7, 30}, {20, 11}}) {
    Image out = resize_nearest(src, h, w);
    REQUIRE(out.channels == 2);
    const double fy = 1.0 / (double(h) / 7), fx = 1.0 / (double(w) / 11);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        int64_t sy = std::min<int64_t>(int64_t(std::floor(y * fy)), 6),
                sx = std::min<int64_t>(int64_t(std::floor(x * fx)), 10);
        for (int64_t c = 0; c < 2; ++c) REQUIRE(out.at(y, x, c) == src.at(sy, sx, c));
      }
  }
}

namespace {

// Minimal safetensors reader for the fixture file: u8 tensors only.
std::map<std::string, Image> read_u8_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  std::string header(n, '\0');
  in.read(header.data(), std::streamsize(n));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::map<std::string, Image> out;
  const nlohmann::json index = nlohmann::json::parse(header);
  for (auto& [name, t] : index.items()) {
    if (name == "__metadata__") continue;
    REQUIRE(t.at("dtype") == "U8");
    auto shape = t.at("shape").get<std::vector<int64_t>>();
    auto offs = t.at("data_offsets").get<std::vector<size_t>>();
    REQUIRE((shape.size() == 2 || shape.size() == 3));
    Image img(shape[0], shape[1], shape.size() == 3 ? shape[2] : 1);
    REQUIRE(offs[1] - offs[0] == img.pixels.size());
    std::copy(data.begin() + int64_t(offs[0]), data.begin() + int64_t(offs[1]), img.pixels.begin());
    out[name] = std::move(img);
  }
  return out;
}

}  // namespace

TEST_CASE("resize: bit-exact against cv2 fixtures (SONO_REF_FIXTURES/resize)") {
  const std::string path =
      sono::test::ref_fixture("resize/opencv_resize.safetensors", "tools/reference/make_fixtures.sh");
  if (path.empty()) return;
  auto tensors = read_u8_safetensors(path);
  int compared = 0;
  for (const auto& [name, src] : tensors) {
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".src") != 0) continue;
    const std::string stem = name.substr(0, name.size() - 4);
    auto it = tensors.find(stem + ".dst");
    REQUIRE_MESSAGE(it != tensors.end(), "no " << stem << ".dst");
    const Image& want = it->second;
    const bool mask = stem.compare(0, 5, "mask.") == 0;
    Image got = mask ? resize_nearest(src, want.height, want.width) : resize_linear(src, want.height, want.width);
    int64_t diff = 0;
    for (size_t i = 0; i < want.pixels.size(); ++i) diff += got.pixels[i] != want.pixels[i];
    CHECK_MESSAGE(diff == 0, stem << ": " << diff << " of " << want.pixels.size() << " bytes differ from cv2");
    ++compared;
  }
  CHECK(compared > 0);
  MESSAGE("compared " << compared << " cv2.resize outputs bit-exactly");
}
