// Cross entropy on logits [B, C] with class targets [B]: one row per sample.
// Layout: contiguous logits [B, C], i64 target [B]. Outputs: the scalar loss
// (mean over the batch, summed in double) and grad_logits are overwritten.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "ops/loss.h"

namespace sono::cpu {

namespace {

// log sum_c exp(row[c]), max-subtracted as PyTorch's log_softmax, summed in double.
template <class scalar_t>
double row_log_sum_exp(const scalar_t* row, int64_t classes) {
  scalar_t m = row[0];
  for (int64_t c = 1; c < classes; ++c) m = std::max(m, row[c]);
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t c = 0; c < classes; ++c) s += double(std::exp(row[c] - m));
  return double(m) + std::log(s);
}

bool parallel_rows(int64_t batch, int64_t classes) { return batch > 1 && worth_parallel(batch * classes); }

}  // namespace

void cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& loss) {
  if (bf16::widened(cross_entropy_forward, logits, target, bf16::out(loss))) return;
  const int64_t B = logits.size(0), C = logits.size(1);
  std::vector<double> per_row(static_cast<size_t>(B));  // summed in order afterwards: thread-count independent
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* z = logits.data<scalar_t>();
    const int64_t* y = target.data<int64_t>();
    parallel_for(B, parallel_rows(B, C), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) per_row[size_t(b)] = row_log_sum_exp(z + b * C, C) - double(z[b * C + y[b]]);
    });
    double total = 0;
    for (double v : per_row) total += v;
    loss.data<scalar_t>()[0] = scalar_t(total / double(B));
  });
}

// d/dz_bc = g / B * (softmax_bc - [c == y_b])
void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& grad_loss,
                            const Tensor& grad_logits) {
  if (bf16::widened(cross_entropy_backward, logits, target, grad_loss, bf16::out(grad_logits))) return;
  const int64_t B = logits.size(0), C = logits.size(1);
  const double scale = grad_loss.item() / double(B);
  dispatch_float(logits.dtype(), "cross_entropy_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* z = logits.data<scalar_t>();
    const int64_t* y = target.data<int64_t>();
    scalar_t* g = grad_logits.data<scalar_t>();
    parallel_for(B, parallel_rows(B, C), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const scalar_t* row = z + b * C;
        scalar_t* grow = g + b * C;
        const scalar_t lse = scalar_t(row_log_sum_exp(row, C));
#pragma omp simd
        for (int64_t c = 0; c < C; ++c)
          grow[c] = scalar_t(scale * (double(std::exp(row[c] - lse)) - (c == y[b] ? 1.0 : 0.0)));
      }
    });
  });
}

}  // namespace sono::cpu
