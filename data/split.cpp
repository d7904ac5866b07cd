#include "data/split.h"

#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>

#include "core/error.h"

namespace sono::data {

std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed) {
  SONO_CHECK(n >= 0 && n < int64_t(0xffffffffu / 20), "torch_randperm", "n must be in [0, 2^32 / 20), got ", n);
  std::vector<int64_t> r(static_cast<size_t>(n));
  std::iota(r.begin(), r.end(), int64_t(0));
  std::mt19937 mt(uint32_t(seed & 0xffffffffu));
  for (int64_t i = 0; i + 1 < n; ++i) {
    int64_t z = int64_t(mt() % uint32_t(n - i));
    std::swap(r[size_t(i)], r[size_t(i + z)]);
  }
  return r;
}

Split random_split(int64_t n, double val_fraction, uint64_t seed) {
  SONO_CHECK(val_fraction >= 0 && val_fraction <= 1, "random_split", "val_fraction must be in [0, 1], got ",
             val_fraction);
  const int64_t val = int64_t(double(n) * val_fraction);  // Python's int() truncates
  std::vector<int64_t> perm = torch_randperm(n, seed);
  Split s;
  s.train.assign(perm.begin(), perm.end() - val);
  s.val.assign(perm.end() - val, perm.end());
  return s;
}

std::string split_fingerprint(const std::vector<Sample>& samples, const std::vector<int64_t>& val) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&](const std::string& text) {
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  };
  for (int64_t r : val) {
    SONO_CHECK(r >= 0 && r < int64_t(samples.size()), "split_fingerprint", "row ", r, " outside ", samples.size(),
               " samples");
    const Sample& s = samples[size_t(r)];
    mix(str_cat(std::filesystem::path(s.csv_file).filename().string(), '\t', s.line, '\n'));
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
  return buf;
}

}  // namespace sono::data
