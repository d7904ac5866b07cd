#pragma once
// The baseline's 80/20 split (train.py): val size = int(0.2 * N), then
// torch.utils.data.random_split(range(N), [N - val, val],
// generator=torch.Generator().manual_seed(seed)). Reproduced bit for bit:
// torch's CPU randperm for n < 2^32 / 20 swaps r[i] with r[i + mt() % (n - i)]
// for i = 0 .. n-2, mt being a standard MT19937 seeded with the low 32 bits
// of the seed (= std::mt19937); train = perm[0 : N - val], val = the rest.
#include <cstdint>
#include <string>
#include <vector>

#include "data/sample.h"

namespace sono::data {

struct Split {
  std::vector<int64_t> train, val;  // row indices, in the permutation's order
};

std::vector<int64_t> torch_randperm(int64_t n, uint64_t seed);
Split random_split(int64_t n, double val_fraction, uint64_t seed);

// A short name of a split's validation rows: 16 hex digits of FNV-1a over
// the (CSV file name without its folder, line) of each row of `val`, in
// order. Equal fingerprints = the same validation rows, whatever the folder.
std::string split_fingerprint(const std::vector<Sample>& samples, const std::vector<int64_t>& val);

}  // namespace sono::data
