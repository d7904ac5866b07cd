#include "data/py_random.h"

#include "core/error.h"

namespace sono::data {

namespace {
constexpr int kN = 624, kM = 397;
}

void PyRandom::init_genrand(uint32_t s) {
  mt_[0] = s;
  for (int i = 1; i < kN; ++i)
    mt_[size_t(i)] = 1812433253u * (mt_[size_t(i - 1)] ^ (mt_[size_t(i - 1)] >> 30)) + uint32_t(i);
  index_ = kN;
}

void PyRandom::seed_int(uint64_t seed) {
  // init_by_array with the 32-bit words of the seed, least significant first
  // (at least one word, so seed 0 gives key [0]).
  std::vector<uint32_t> key{uint32_t(seed)};
  if (seed >> 32) key.push_back(uint32_t(seed >> 32));
  init_genrand(19650218u);
  int i = 1, j = 0;
  const int klen = int(key.size());
  for (int k = kN > klen ? kN : klen; k > 0; --k) {
    mt_[size_t(i)] = (mt_[size_t(i)] ^ ((mt_[size_t(i - 1)] ^ (mt_[size_t(i - 1)] >> 30)) * 1664525u)) +
                     key[size_t(j)] + uint32_t(j);
    ++i, ++j;
    if (i >= kN) mt_[0] = mt_[kN - 1], i = 1;
    if (j >= klen) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    mt_[size_t(i)] = (mt_[size_t(i)] ^ ((mt_[size_t(i - 1)] ^ (mt_[size_t(i - 1)] >> 30)) * 1566083941u)) - uint32_t(i);
    ++i;
    if (i >= kN) mt_[0] = mt_[kN - 1], i = 1;
  }
  mt_[0] = 0x80000000u;
  index_ = kN;
}

void PyRandom::twist() {
  constexpr uint32_t kUpper = 0x80000000u, kLower = 0x7fffffffu, kMatrix = 0x9908b0dfu;
  for (int k = 0; k < kN; ++k) {
    uint32_t y = (mt_[size_t(k)] & kUpper) | (mt_[size_t((k + 1) % kN)] & kLower);
    mt_[size_t(k)] = mt_[size_t((k + kM) % kN)] ^ (y >> 1) ^ ((y & 1u) ? kMatrix : 0u);
  }
  index_ = 0;
}

uint32_t PyRandom::next32() {
  if (index_ >= kN) twist();
  uint32_t y = mt_[size_t(index_++)];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

uint32_t PyRandom::getrandbits(int k) {
  SONO_CHECK(k >= 1 && k <= 32, "PyRandom::getrandbits", "k must be in [1, 32], got ", k);
  return next32() >> (32 - k);
}

int64_t PyRandom::randbelow(int64_t n) {
  SONO_CHECK(n >= 1 && n <= int64_t(0xffffffffu), "PyRandom::randbelow", "n must be in [1, 2^32), got ", n);
  int k = 0;
  while ((int64_t(1) << k) <= n) ++k;  // n.bit_length()
  uint32_t r = getrandbits(k);
  while (int64_t(r) >= n) r = getrandbits(k);
  return int64_t(r);
}

std::vector<uint32_t> PyRandom::state() const {
  std::vector<uint32_t> s(mt_.begin(), mt_.end());
  s.push_back(uint32_t(index_));
  return s;
}

void PyRandom::set_state(const std::vector<uint32_t>& s) {
  SONO_CHECK(s.size() == size_t(kN) + 1 && s.back() <= uint32_t(kN), "PyRandom::set_state",
             "expected 625 words with a position <= 624, got ", s.size(), " words");
  std::copy(s.begin(), s.begin() + kN, mt_.begin());
  index_ = int(s.back());
}

}  // namespace sono::data
