// Cross entropy on logits [B, C] with class targets [B] on a cuda device
// (see ops/loss.h), the same arithmetic as ops/cpu/loss_cross_entropy.cpp.
//
// Math: lse_b = m_b + log sum_c exp(z_bc - m_b), m_b = max_c z_bc, the
// exponentials in the tensor dtype and summed in double;
//   forward   loss = (1/B) sum_b (lse_b - z_b,y_b), rows summed in double
//   backward  g_bc = T(s * (exp(z_bc - T(lse_b)) - [c == y_b])), s = grad_loss / B
// Layout: logits, grad_logits contiguous [B, C]; target contiguous i64 [B];
// logits, loss, grads f32, f64 or bf16 (bf16: "the tensor dtype" above is
// float, the outputs are rounded to nearest even).
// Launch: one thread per row for lse_b (the heads have a handful of classes,
// so a row is a short serial loop in the CPU's order); the forward then sums
// the rows with the deterministic two-pass reduce_items, the backward runs one
// grid-stride loop over the B*C gradient elements (coalesced writes).
// Outputs: loss and grad_logits are overwritten.
#include "core/cuda/launch.h"
#include "ops/cuda/block_reduce.cuh"
#include "ops/loss.h"

namespace sono::cuda {

namespace {

template <class T>
__device__ double row_log_sum_exp(const T* row, int64_t classes) {
  using C = compute_t<T>;
  C m = C(row[0]);
  for (int64_t c = 1; c < classes; ++c) m = C(row[c]) > m ? C(row[c]) : m;
  double s = 0;
  for (int64_t c = 0; c < classes; ++c) s += double(exp(C(row[c]) - m));
  return double(m) + log(s);
}

template <class T>
struct RowLogSumExp {  // lse[b] for every row
  const T* z;
  int64_t classes;
  double* lse;
  __device__ void operator()(int64_t b) const { lse[b] = row_log_sum_exp(z + b * classes, classes); }
};

template <class T>
struct RowLoss {
  const T* z;
  const int64_t* y;
  const double* lse;
  int64_t classes;
  // A class outside [0, classes) reads nothing: the check's verdict arrives
  // later (core/device_check.h) and the read-back throws instead of returning this.
  __device__ double operator()(int64_t b) const {
    return y[b] >= 0 && y[b] < classes ? lse[b] - double(z[b * classes + y[b]]) : 0.0;
  }
};

template <class T>
struct Grad {
  const T* z;
  const int64_t* y;
  const double* lse;
  const T* grad_loss;
  T* g;
  int64_t classes;
  double batch;
  __device__ void operator()(int64_t i) const {
    const int64_t b = i / classes, c = i - b * classes;
    const double s = double(grad_loss[0]) / batch;
    using C = compute_t<T>;
    const C p = exp(C(z[i]) - C(lse[b]));
    g[i] = scalar_cast<T>(s * (double(p) - (c == y[b] ? 1.0 : 0.0)));
  }
};

// lse per row into a fresh f64 [B] device buffer.
template <class T>
Tensor log_sum_exp_rows(const Tensor& logits) {
  const int64_t B = logits.size(0), C = logits.size(1);
  Tensor lse = Tensor::empty({B}, DType::F64, logits.device());
  parallel_for(logits.device().index, B, RowLogSumExp<T>{logits.data<T>(), C, lse.data<double>()});
  return lse;
}

}  // namespace

void cross_entropy_forward(const Tensor& logits, const Tensor& target, const Tensor& loss) {
  const int64_t B = logits.size(0), C = logits.size(1);
  dispatch_real(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = SONO_TYPE(tag);
    Tensor lse = log_sum_exp_rows<T>(logits);
    reduce_items(logits.device().index, B, RowLoss<T>{logits.data<T>(), target.data<int64_t>(), lse.data<double>(), C},
                 SumOp{}, 0.0, StoreQuotient<T>{loss.data<T>(), double(B)});
  });
}

void cross_entropy_backward(const Tensor& logits, const Tensor& target, const Tensor& grad_loss,
                            const Tensor& grad_logits) {
  const int64_t B = logits.size(0), C = logits.size(1);
  dispatch_real(logits.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    Tensor lse = log_sum_exp_rows<T>(logits);
    parallel_for(logits.device().index, B * C,
                 Grad<T>{logits.data<T>(), target.data<int64_t>(), lse.data<double>(), grad_loss.data<T>(),
                         grad_logits.data<T>(), C, double(B)});
  });
}

}  // namespace sono::cuda
