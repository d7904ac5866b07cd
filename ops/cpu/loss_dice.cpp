// SMP multiclass Dice on logits [B, C, H*W]. Per block of pixels the softmax
// is computed once (one read of the logits, one exp per element, kept in a
// per-thread scratch block): the forward folds it into the per-class sums, the
// backward into the gradient through the softmax.
// Layout: contiguous logits [B, C, H, W] and i64 target [B, H, W]. Outputs: the
// per-class stats [C, 3], the scalar loss and grad_logits are overwritten.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "ops/cpu/vec_math.h"
#include "ops/loss.h"
#include "ops/math.h"

namespace sono::cpu {

namespace {

// Pixels processed together: the per-pixel softmax state lives in stack arrays.
constexpr int64_t kSoftmaxBlock = 256;

// This thread's scratch for the softmax of one block: p[c * kSoftmaxBlock + k].
template <class scalar_t>
scalar_t* block_scratch(int64_t classes) {
  static thread_local std::vector<scalar_t> buf;
  if (buf.size() < size_t(classes * kSoftmaxBlock)) buf.resize(size_t(classes * kSoftmaxBlock));
  return buf.data();
}

// p[c * kSoftmaxBlock + k] = softmax over c of z[c * stride + k] for the
// n <= kSoftmaxBlock pixels at z: max-subtracted (as PyTorch's log_softmax),
// exp'd once, normalised by the sum taken in double.
template <class scalar_t>
void block_softmax(const scalar_t* z, int64_t classes, int64_t stride, int64_t n, scalar_t* p) {
  scalar_t m[kSoftmaxBlock], inv[kSoftmaxBlock];
  double s[kSoftmaxBlock];
  std::copy(z, z + n, m);
  for (int64_t c = 1; c < classes; ++c) {
    const scalar_t* zc = z + c * stride;
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) m[k] = std::max(m[k], zc[k]);
  }
  std::fill(s, s + n, 0.0);
  for (int64_t c = 0; c < classes; ++c) {
    const scalar_t* zc = z + c * stride;
    scalar_t* pc = p + c * kSoftmaxBlock;
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) pc[k] = zc[k] - m[k];
    vec::exp(pc, pc, n);
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) s[k] += double(pc[k]);
  }
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) inv[k] = scalar_t(1.0 / s[k]);
  for (int64_t c = 0; c < classes; ++c) {
    scalar_t* pc = p + c * kSoftmaxBlock;
#pragma omp simd
    for (int64_t k = 0; k < n; ++k) pc[k] *= inv[k];
  }
}

// Blocks are pixel runs inside one image. Each block yields its own partial
// class sums, added in block order afterwards, so the loss does not depend on
// the number of threads.
struct Blocks {
  int64_t batch, classes, pixels, per_image, count;
  explicit Blocks(const Tensor& logits)
      : batch(logits.size(0)),
        classes(logits.size(1)),
        pixels(logits.numel() / (batch * classes)),
        per_image((pixels + kSoftmaxBlock - 1) / kSoftmaxBlock),
        count(batch * per_image) {}
  int64_t image(int64_t blk) const { return blk / per_image; }
  int64_t first_pixel(int64_t blk) const { return (blk % per_image) * kSoftmaxBlock; }
  int64_t size(int64_t blk) const { return std::min(kSoftmaxBlock, pixels - first_pixel(blk)); }
  bool parallel() const { return count > 1 && worth_parallel(batch * classes * pixels); }
};

}  // namespace

void dice_loss_forward(const Tensor& logits, const Tensor& target, double smooth, double eps, const Tensor& stats,
                       const Tensor& loss) {
  if (bf16::widened(dice_loss_forward, logits, target, smooth, eps, stats, bf16::out(loss))) return;
  const Blocks bl(logits);
  const int64_t C = bl.classes, hw = bl.pixels;
  std::vector<double> partial(size_t(bl.count * C * 3));
  dispatch_float(logits.dtype(), "dice_loss", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* z = logits.data<scalar_t>();
    const int64_t* y = target.data<int64_t>();
    parallel_for(bl.count, bl.parallel(), [&](int64_t blk0, int64_t blk1) {
      for (int64_t blk = blk0; blk < blk1; ++blk) {
        const int64_t b = bl.image(blk), k0 = bl.first_pixel(blk), n = bl.size(blk);
        const int64_t* yb = y + b * hw + k0;
        scalar_t* p = block_scratch<scalar_t>(C);
        block_softmax(z + b * C * hw + k0, C, hw, n, p);
        double* part = &partial[size_t(blk * C * 3)];
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t* pc = p + c * kSoftmaxBlock;
          double spt = 0, sp = 0, st = 0;
#pragma omp simd reduction(+ : spt, sp, st)
          for (int64_t k = 0; k < n; ++k) {
            const double p = double(pc[k]);
            const bool hit = yb[k] == c;
            sp += p;
            spt += hit ? p : 0.0;
            st += hit ? 1.0 : 0.0;
          }
          part[3 * c] = spt;
          part[3 * c + 1] = sp;
          part[3 * c + 2] = st;
        }
      }
    });
    double* s = stats.data<double>();
    std::fill(s, s + C * 3, 0.0);
    for (int64_t blk = 0; blk < bl.count; ++blk)
      for (int64_t i = 0; i < C * 3; ++i) s[i] += partial[size_t(blk * C * 3 + i)];
    double total = 0;
    for (int64_t c = 0; c < C; ++c) total += math::dice_class_loss(s[3 * c], s[3 * c + 1], s[3 * c + 2], smooth, eps);
    loss.data<scalar_t>()[0] = scalar_t(total / double(C));
  });
}

// loss = (1/C) sum_c l_c(I_c, Sp_c), so dloss/dp_ck = G_ck = a_c t_ck + b_c with
// a_c = dl_c/dI / C and b_c = dl_c/dSp / C; through the softmax
// dloss/dz_jk = p_jk (G_jk - sum_i p_ik G_ik), where t is one-hot at y_k.
void dice_loss_backward(const Tensor& logits, const Tensor& target, const Tensor& stats, double smooth, double eps,
                        const Tensor& grad_loss, const Tensor& grad_logits) {
  if (bf16::widened(dice_loss_backward, logits, target, stats, smooth, eps, grad_loss, bf16::out(grad_logits))) return;
  const Blocks bl(logits);
  const int64_t C = bl.classes, hw = bl.pixels;
  const double* s = stats.data<double>();
  const double scale = grad_loss.item() / double(C);
  std::vector<double> a(static_cast<size_t>(C)), bc(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    math::dice_class_loss_grad(s[3 * c], s[3 * c + 1], s[3 * c + 2], smooth, eps, &a[size_t(c)], &bc[size_t(c)]);
    a[size_t(c)] *= scale;
    bc[size_t(c)] *= scale;
  }
  dispatch_float(logits.dtype(), "dice_loss_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* z = logits.data<scalar_t>();
    const int64_t* y = target.data<int64_t>();
    scalar_t* g = grad_logits.data<scalar_t>();
    parallel_for(bl.count, bl.parallel(), [&](int64_t blk0, int64_t blk1) {
      for (int64_t blk = blk0; blk < blk1; ++blk) {
        const int64_t b = bl.image(blk), k0 = bl.first_pixel(blk), n = bl.size(blk);
        const int64_t offset = b * C * hw + k0;
        const int64_t* yb = y + b * hw + k0;
        scalar_t* p = block_scratch<scalar_t>(C);
        double weighted[kSoftmaxBlock];  // sum_i p_ik G_ik
        block_softmax(z + offset, C, hw, n, p);
        std::fill(weighted, weighted + n, 0.0);
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t* pc = p + c * kSoftmaxBlock;
          const double ac = a[size_t(c)], bcc = bc[size_t(c)];
#pragma omp simd
          for (int64_t k = 0; k < n; ++k) weighted[k] += double(pc[k]) * (bcc + (yb[k] == c ? ac : 0.0));
        }
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t* pc = p + c * kSoftmaxBlock;
          scalar_t* gc = g + offset + c * hw;
          const double ac = a[size_t(c)], bcc = bc[size_t(c)];
#pragma omp simd
          for (int64_t k = 0; k < n; ++k)
            gc[k] = scalar_t(double(pc[k]) * (bcc + (yb[k] == c ? ac : 0.0) - weighted[k]));
        }
      }
    });
  });
}

}  // namespace sono::cpu
