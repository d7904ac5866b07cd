// CPU sum and argmax over the middle axis of a contiguous x viewed as
// [outer, r, inner]: sum_middle overwrites out [outer, inner] with scale *
// sum over r (accumulated in double; long rows from fixed-size partial sums
// added in order, so the result does not depend on the thread count);
// argmax_middle overwrites the i64 out [outer, inner] with the index of the
// first maximum (a NaN counts as the maximum, like PyTorch).
#include <algorithm>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "ops/reduce.h"

namespace sono::cpu {

namespace {

constexpr int64_t kBlock = 256;    // inner positions handled together (vectorized)
constexpr int64_t kChunk = 16384;  // elements of one partial sum of a long row

template <class T>
double row_sum(const T* p, int64_t n) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t k = 0; k < n; ++k) s += double(p[k]);
  return s;
}

// Sum of a long row from fixed-size partial sums added in order, so the
// result does not depend on the number of threads.
template <class T>
double long_row_sum(const T* p, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(chunks));
  parallel_for(chunks, true, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) part[size_t(c)] = row_sum(p + c * kChunk, std::min(kChunk, n - c * kChunk));
  });
  double s = 0;
  for (double v : part) s += v;
  return s;
}

}  // namespace

void sum_middle(const Tensor& x, int64_t outer, int64_t r, int64_t inner, double scale, const Tensor& out) {
  if (bf16::widened(sum_middle, x, outer, r, inner, scale, bf16::out(out))) return;
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    if (inner == 1) {
      if (outer >= 16 || r <= 4 * kChunk) {
        parallel_for(outer, worth_parallel(outer * r), [&](int64_t o0, int64_t o1) {
          for (int64_t o = o0; o < o1; ++o) po[o] = scalar_t(row_sum(px + o * r, r) * scale);
        });
      } else {
        for (int64_t o = 0; o < outer; ++o) po[o] = scalar_t(long_row_sum(px + o * r, r) * scale);
      }
      return;
    }
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    parallel_for(outer * blocks, worth_parallel(outer * r * inner), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t o = t / blocks, i0 = (t % blocks) * kBlock, len = std::min(kBlock, inner - i0);
        double acc[kBlock] = {};
        for (int64_t k = 0; k < r; ++k) {
          const scalar_t* row = px + (o * r + k) * inner + i0;
#pragma omp simd
          for (int64_t i = 0; i < len; ++i) acc[i] += double(row[i]);
        }
        scalar_t* dst = po + o * inner + i0;
        for (int64_t i = 0; i < len; ++i) dst[i] = scalar_t(acc[i] * scale);
      }
    });
  });
}

void argmax_middle(const Tensor& x, int64_t outer, int64_t r, int64_t inner, const Tensor& out) {
  if (bf16::widened(argmax_middle, x, outer, r, inner, out)) return;
  dispatch_float(x.dtype(), "argmax", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* px = x.data<scalar_t>();
    int64_t* po = out.data<int64_t>();
    const int64_t blocks = (inner + kBlock - 1) / kBlock;
    parallel_for(outer * blocks, worth_parallel(outer * r * inner), [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t o = t / blocks, i0 = (t % blocks) * kBlock, len = std::min(kBlock, inner - i0);
        scalar_t best[kBlock];
        int64_t idx[kBlock] = {};
        const scalar_t* first = px + o * r * inner + i0;
        for (int64_t i = 0; i < len; ++i) best[i] = first[i];
        for (int64_t k = 1; k < r; ++k) {
          const scalar_t* row = first + k * inner;
          for (int64_t i = 0; i < len; ++i) {
            const scalar_t v = row[i];
            // strictly greater keeps the first maximum; the first NaN wins and stays
            if (v > best[i] || (v != v && best[i] == best[i])) {
              best[i] = v;
              idx[i] = k;
            }
          }
        }
        std::copy(idx, idx + len, po + o * inner + i0);
      }
    });
  });
}

}  // namespace sono::cpu
