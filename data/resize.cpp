#include "data/resize.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/error.h"

namespace sono::data {

namespace {

constexpr int kCoefBits = 11;  // INTER_RESIZE_COEF_BITS
constexpr float kCoefScale = float(1 << kCoefBits);

// cvFloor for float and double.
template <class T>
int floor_int(T v) {
  int i = int(v);
  return i - (T(i) > v);
}

// saturate_cast<short>(float): cvRound (nearest, ties to even) then clamp.
int16_t round_coef(float v) {
  long r = std::lrint(v);
  return int16_t(std::clamp<long>(r, -32768, 32767));
}

void check_sizes(const Image& src, int64_t out_h, int64_t out_w, const char* op) {
  SONO_CHECK(!src.empty() && src.height > 0 && src.width > 0 && src.channels > 0, op, "empty source image (",
             src.height, "x", src.width, "x", src.channels, ")");
  SONO_CHECK(out_h > 0 && out_w > 0, op, "output size must be positive, got ", out_h, "x", out_w);
}

// One output coordinate of the linear filter: two taps and their fixed-point weights.
struct Tap {
  int i0, i1;
  int16_t w0, w1;
};

// Output coordinate d's first source index s and its fraction f towards s + 1.
struct SourceCoord {
  int s;
  float f;
};
SourceCoord source_coord(int64_t d, double scale) {
  const float x = float((double(d) + 0.5) * scale - 0.5);
  const int s = floor_int(x);
  return {s, x - float(s)};
}

// Columns: OpenCV clamps the source index to the edge and moves the whole
// weight onto it.
std::vector<Tap> column_taps(int64_t src, int64_t dst) {
  const double scale = 1.0 / (double(dst) / double(src));
  std::vector<Tap> taps(static_cast<size_t>(dst));
  for (int64_t d = 0; d < dst; ++d) {
    auto [s, f] = source_coord(d, scale);
    if (s < 0) f = 0, s = 0;
    if (s >= src - 1) f = 0, s = int(src - 1);
    taps[size_t(d)] = {s, int(std::min<int64_t>(s + 1, src - 1)), round_coef((1.f - f) * kCoefScale),
                       round_coef(f * kCoefScale)};
  }
  return taps;
}

// Rows: the weights stay as computed, the row indices are clamped.
std::vector<Tap> row_taps(int64_t src, int64_t dst) {
  const double scale = 1.0 / (double(dst) / double(src));
  std::vector<Tap> taps(static_cast<size_t>(dst));
  for (int64_t d = 0; d < dst; ++d) {
    const auto [s, f] = source_coord(d, scale);
    auto clamp_row = [&](int64_t r) { return int(std::clamp<int64_t>(r, 0, src - 1)); };
    taps[size_t(d)] = {clamp_row(s), clamp_row(int64_t(s) + 1), round_coef((1.f - f) * kCoefScale),
                       round_coef(f * kCoefScale)};
  }
  return taps;
}

void horizontal_pass(const uint8_t* row, const std::vector<Tap>& cols, int64_t cn, int32_t* out) {
  for (size_t x = 0; x < cols.size(); ++x) {
    const Tap& t = cols[x];
    const uint8_t* p0 = row + t.i0 * cn;
    const uint8_t* p1 = row + t.i1 * cn;
    for (int64_t c = 0; c < cn; ++c) out[int64_t(x) * cn + c] = int32_t(p0[c]) * t.w0 + int32_t(p1[c]) * t.w1;
  }
}

// OpenCV's 8-bit vertical pass (the vector kernel and the scalar tail of its
// VResizeLinear<uchar> specialisation agree): 16-bit high multiplies of the
// row buffers shifted right by 4, then a rounding shift by 2. This is not the
// exactly rounded (S0 * b0 + S1 * b1 + 2^21) >> 22; it differs by one grey
// level now and then.
uint8_t vertical_pass(int32_t s0, int32_t s1, int16_t b0, int16_t b1) {
  auto mulhi = [](int32_t s, int16_t b) { return ((s >> 4) * int32_t(b)) >> 16; };
  return uint8_t(std::clamp<int32_t>((mulhi(s0, b0) + mulhi(s1, b1) + 2) >> 2, 0, 255));
}

Image resize_linear_generic(const Image& src, int64_t out_h, int64_t out_w) {
  const int64_t cn = src.channels;
  const std::vector<Tap> cols = column_taps(src.width, out_w);
  const std::vector<Tap> rows = row_taps(src.height, out_h);
  const int64_t row_bytes = out_w * cn;
  Image dst(out_h, out_w, cn);
  std::vector<int32_t> buf0(static_cast<size_t>(row_bytes)), buf1(static_cast<size_t>(row_bytes));
  int cached0 = -1, cached1 = -1;  // source rows now in buf0/buf1 (consecutive outputs share rows)
  for (int64_t y = 0; y < out_h; ++y) {
    const Tap& t = rows[size_t(y)];
    if (t.i0 != cached0) {
      if (t.i0 == cached1) {
        std::swap(buf0, buf1);
        std::swap(cached0, cached1);
      } else {
        horizontal_pass(src.row(t.i0), cols, cn, buf0.data());
        cached0 = t.i0;
      }
    }
    if (t.i1 != cached1) {
      horizontal_pass(src.row(t.i1), cols, cn, buf1.data());
      cached1 = t.i1;
    }
    uint8_t* out = dst.row(y);
    for (int64_t x = 0; x < row_bytes; ++x) out[x] = vertical_pass(buf0[size_t(x)], buf1[size_t(x)], t.w0, t.w1);
  }
  return dst;
}

// INTER_AREA for an exact 2x downscale. OpenCV's vector kernel exists for 1,
// 3 and 4 channels and rounds halves up; other channel counts take the float
// path (sum * 0.25f, rounded to nearest even).
Image resize_area_half(const Image& src, int64_t out_h, int64_t out_w) {
  const int64_t cn = src.channels;
  const bool fast = cn == 1 || cn == 3 || cn == 4;
  Image dst(out_h, out_w, cn);
  for (int64_t y = 0; y < out_h; ++y) {
    const uint8_t* r0 = src.row(2 * y);
    const uint8_t* r1 = src.row(2 * y + 1);
    uint8_t* out = dst.row(y);
    for (int64_t x = 0; x < out_w; ++x)
      for (int64_t c = 0; c < cn; ++c) {
        int64_t a = 2 * x * cn + c, b = a + cn;
        int sum = r0[a] + r0[b] + r1[a] + r1[b];
        out[x * cn + c] = fast ? uint8_t((sum + 2) >> 2) : uint8_t(std::lrint(float(sum) * 0.25f));
      }
  }
  return dst;
}

}  // namespace

Image resize_linear(const Image& src, int64_t out_h, int64_t out_w) {
  check_sizes(src, out_h, out_w, "resize_linear");
  if (out_h == src.height && out_w == src.width) return src;
  const double scale_x = 1.0 / (double(out_w) / double(src.width));
  const double scale_y = 1.0 / (double(out_h) / double(src.height));
  const bool integer_scales = std::abs(scale_x - std::nearbyint(scale_x)) < DBL_EPSILON &&
                              std::abs(scale_y - std::nearbyint(scale_y)) < DBL_EPSILON;
  if (integer_scales && std::nearbyint(scale_x) == 2 && std::nearbyint(scale_y) == 2)
    return resize_area_half(src, out_h, out_w);
  return resize_linear_generic(src, out_h, out_w);
}

Image resize_nearest(const Image& src, int64_t out_h, int64_t out_w) {
  check_sizes(src, out_h, out_w, "resize_nearest");
  if (out_h == src.height && out_w == src.width) return src;
  const int64_t cn = src.channels;
  const double ifx = 1.0 / (double(out_w) / double(src.width));
  const double ify = 1.0 / (double(out_h) / double(src.height));
  std::vector<int64_t> xs(static_cast<size_t>(out_w));
  for (int64_t x = 0; x < out_w; ++x) xs[size_t(x)] = std::min<int64_t>(floor_int(double(x) * ifx), src.width - 1);
  Image dst(out_h, out_w, cn);
  for (int64_t y = 0; y < out_h; ++y) {
    const uint8_t* in = src.row(std::min<int64_t>(floor_int(double(y) * ify), src.height - 1));
    uint8_t* out = dst.row(y);
    for (int64_t x = 0; x < out_w; ++x)
      for (int64_t c = 0; c < cn; ++c) out[x * cn + c] = in[xs[size_t(x)] * cn + c];
  }
  return dst;
}

}  // namespace sono::data
