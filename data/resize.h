#pragma once
// Bit-exact reproductions of OpenCV 4.x cv::resize on 8-bit images, the two
// modes the baseline uses (albumentations Resize -> cv2.resize):
//
// resize_linear = INTER_LINEAR. OpenCV's 8-bit path is fixed point:
// * source coordinate fx = float((dx + 0.5) * scale - 0.5) with
//   scale = 1 / (dst / src) in double; sx = floor(fx), weights
//   (1 - f, f) rounded to integers out of 2048 (INTER_RESIZE_COEF_SCALE).
//   Columns left of 0 or right of the last pixel use the edge pixel with
//   weight 2048; rows are clamped to [0, height - 1] instead (weights kept).
// * horizontal pass: int32 row buffers S = p0 * a0 + p1 * a1 (exact).
// * vertical pass: ((mulhi16(S0 >> 4, b0) + mulhi16(S1 >> 4, b1) + 2) >> 2)
//   with mulhi16(a, b) = (a * b) >> 16, in OpenCV's vector kernel and in the
//   scalar tail alike. (It is not the exactly rounded (S0*b0 + S1*b1 + 2^21)
//   >> 22, which differs by one grey level now and then.)
// * a downscale by exactly 2 in both directions becomes INTER_AREA:
//   (a + b + c + d + 2) >> 2 over each 2x2 block.
// * same size: a copy.
//
// resize_nearest = INTER_NEAREST: sx = min(floor(dx * (1 / (dst / src))), src - 1)
// in double, likewise for rows. Any channel count (masks use one).
#include <cstdint>

#include "data/image.h"

namespace sono::data {

Image resize_linear(const Image& src, int64_t out_h, int64_t out_w);
Image resize_nearest(const Image& src, int64_t out_h, int64_t out_w);

}  // namespace sono::data
