#pragma once
// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11): a counter-based generator, so element i of a stream is a pure
// function of (seed, offset + i). The CPU and CUDA backends call the same
// functions below and therefore draw identical dropout masks and noise.
#include <cmath>
#include <cstdint>

#include "core/macros.h"

namespace sono {

struct Philox4 {
  uint32_t v[4];
};

SONO_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// One block of four 32-bit words for a 128-bit counter and 64-bit key.
SONO_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
  constexpr uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(M0, ctr.v[0], hi0, lo0);
    philox_mulhilo(M1, ctr.v[2], hi1, lo1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += W0;
    k1 += W1;
  }
  return ctr;
}

// The i-th 32-bit word of the stream (seed, offset): block (offset+i)/4 of
// the counter, word (offset+i)%4. Any thread can compute any element.
SONO_HD uint32_t philox_word(uint64_t seed, uint64_t index) {
  uint64_t block = index >> 2;
  Philox4 c{{uint32_t(block), uint32_t(block >> 32), 0u, 0u}};
  Philox4 r = philox4x32_10(c, uint32_t(seed), uint32_t(seed >> 32));
  return r.v[index & 3];
}

// Uniform float in [0, 1) with 24 random bits (exactly representable).
SONO_HD float philox_uniform(uint64_t seed, uint64_t index) {
  return float(philox_word(seed, index) >> 8) * (1.0f / 16777216.0f);
}

// Standard normal by Box-Muller from two consecutive words (index, index+1).
SONO_HD float philox_normal(uint64_t seed, uint64_t index) {
  float u1 = (float(philox_word(seed, index) >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
  float u2 = philox_uniform(seed, index + 1);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

// A stream position: ops that consume randomness take a Generator, read
// (seed, offset) and advance offset by the number of words they used, so a
// saved generator state reproduces every later draw exactly.
struct Generator {
  uint64_t seed = 0;
  uint64_t offset = 0;
  explicit Generator(uint64_t s = 0, uint64_t o = 0) : seed(s), offset(o) {}
  // Reserves n words and returns the offset of the first.
  uint64_t take(uint64_t n) {
    uint64_t o = offset;
    offset += n;
    return o;
  }
};

}  // namespace sono
