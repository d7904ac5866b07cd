#pragma once
// Python's random.Random (MT19937 seeded by init_by_array), reproduced so the
// task sampler draws what the baseline's sampler draws from random.seed(s):
// getrandbits(k <= 32) = next32() >> (32 - k), randbelow(n) by rejection on
// n.bit_length() bits, shuffle = Fisher-Yates from the back, choice =
// seq[randbelow(len)]. All of it is specified by CPython, not by a C++
// library, so the sequence is the same on every platform.
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace sono::data {

class PyRandom {
 public:
  explicit PyRandom(uint64_t seed = 0) { seed_int(seed); }
  void seed_int(uint64_t seed);  // random.seed(int)

  uint32_t next32();             // genrand_uint32
  uint32_t getrandbits(int k);   // 1 <= k <= 32
  int64_t randbelow(int64_t n);  // n >= 1, n < 2^32
  template <class T>
  void shuffle(std::vector<T>& x) {
    for (int64_t i = int64_t(x.size()) - 1; i >= 1; --i) std::swap(x[std::size_t(i)], x[std::size_t(randbelow(i + 1))]);
  }

  // The full generator state (624 words, then the position), for checkpoints.
  std::vector<uint32_t> state() const;
  void set_state(const std::vector<uint32_t>& s);

 private:
  void init_genrand(uint32_t s);
  void twist();
  std::array<uint32_t, 624> mt_{};
  int index_ = 624;
};

}  // namespace sono::data
