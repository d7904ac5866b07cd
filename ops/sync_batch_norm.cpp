#include "ops/sync_batch_norm.h"

#include "core/autograd.h"
#include "core/backend.h"
#include "ops/binary.h"
#include "ops/norm.h"
#include "ops/reduce.h"

namespace sono {

namespace {

const char* const kOp = "sync_batch_norm";

// [C] -> [1, C, 1, ...] to broadcast against x.
Tensor per_channel(const Tensor& v, const Tensor& x) {
  Shape s(x.shape().size(), 1);
  s[1] = x.size(1);
  return v.reshape(s);
}

std::vector<int64_t> reduced_dims(const Tensor& x) {
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
  return d;
}

struct SyncBatchNormBackward final : Node {
  Tensor x, weight, mean, invstd;
  double count;
  std::shared_ptr<const BatchNormReducer> reducer;
  SyncBatchNormBackward(Tensor x_, Tensor w, Tensor m, Tensor i, double n, std::shared_ptr<const BatchNormReducer> r)
      : x(std::move(x_)),
        weight(std::move(w)),
        mean(std::move(m)),
        invstd(std::move(i)),
        count(n),
        reducer(std::move(r)) {}
  const char* name() const override { return "SyncBatchNormBackward"; }
  std::vector<Tensor> apply(const Tensor& gy_in) override {
    const Tensor gy = gy_in.contiguous();
    // Eval-mode backward: gx = w * invstd * gy, and the local sums
    // gb = sum(gy), gw = sum(gy * xhat) per channel (needed whatever is wanted).
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
    Tensor gw = Tensor::empty({x.size(1)}, x.dtype(), x.device());
    Tensor gb = Tensor::empty({x.size(1)}, x.dtype(), x.device());
    SONO_DISPATCH_DEVICE(x, kOp, batch_norm_backward, x, weight, mean, invstd, gy, false, gx, gw, gb);
    std::vector<Tensor> out(3);
    if (next[0]) {
      // Both sums in one all-reduce: [sum gy | sum gy * xhat].
      const int64_t C = x.size(1);
      Tensor both = Tensor::empty({2 * C}, DType::F64, x.device());
      both.slice(0, 0, C).copy_(gb);
      both.slice(0, C, 2 * C).copy_(gw);
      if (reducer->weight != 1.0) both = mul_scalar(both, reducer->weight);
      reducer->allreduce_sum(both);
      // Back to this rank's scale (its gy is 1/weight times the global loss's), over the global count.
      both = mul_scalar(both, 1.0 / (reducer->weight * count));
      const Tensor mean_gy = both.slice(0, 0, C).to(x.dtype());
      const Tensor mean_gy_xhat = both.slice(0, C, 2 * C).to(x.dtype());
      const Tensor w = weight.defined() ? weight : Tensor::full({C}, 1.0, x.dtype(), x.device());
      const Tensor a = w * invstd;  // d y / d xhat * d xhat / d x at fixed statistics
      // gx = a * (gy - mean(gy) - xhat * mean(gy * xhat)), xhat = (x - mean) * invstd
      out[0] =
          gx - per_channel(a * mean_gy, x) - (x - per_channel(mean, x)) * per_channel(a * invstd * mean_gy_xhat, x);
    }
    if (next[1]) out[1] = gw;
    if (next[2]) out[2] = gb;
    return out;
  }
  void release_saved() override { x = weight = mean = invstd = Tensor(); }
};

}  // namespace

Tensor sync_batch_norm(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, double momentum, double eps,
                       std::shared_ptr<const BatchNormReducer> reducer) {
  SONO_CHECK(reducer && reducer->allreduce_sum, kOp, "needs a reducer");
  SONO_CHECK(reducer->weight > 0 && reducer->weight <= 1, kOp, "the rank's share of the batch must be in (0, 1], got ",
             reducer->weight);
  check_defined_nonempty(input, kOp, "input");
  check_real(input, kOp, "input");
  if (input.dtype() == DType::BF16) {
    // bf16 storage (docs/precision.md): the f32 op on the widened input, its
    // output rounded once; the casts carry the gradient back to bf16. The
    // parameters and running statistics beside a bf16 input are f32.
    for (const Tensor* t : {&weight, &bias, &running_mean, &running_var})
      SONO_CHECK(!t->defined() || t->dtype() == DType::F32, kOp, t->describe(), " beside bf16 input ", input.describe(),
                 " must be f32");
    return sync_batch_norm(input.to(DType::F32), weight, bias, running_mean, running_var, momentum, eps, reducer)
        .to(DType::BF16);
  }
  SONO_CHECK(input.dim() >= 2, kOp, "expected an input [N, C, ...], got ", input.describe());
  const Tensor x = input.contiguous();
  const int64_t C = x.size(1);
  const std::vector<int64_t> dims = reduced_dims(x);
  Tensor mean, var;
  double count = 0;
  {
    NoGradGuard ng;
    // Pass 1: the global count and mean; pass 2: the squared deviations from it.
    Tensor s1 = Tensor::empty({C + 1}, DType::F64, x.device());
    s1.slice(0, 0, C).copy_(sum(x.detach(), dims));
    s1.slice(0, C, C + 1).fill_(double(x.numel() / C));
    reducer->allreduce_sum(s1);
    count = s1.slice(0, C, C + 1).item();
    SONO_CHECK(count > 1, kOp, "expected more than 1 value per channel over the ranks when training, got input ",
               input.describe());
    mean = mul_scalar(s1.slice(0, 0, C), 1.0 / count).to(x.dtype());
    const Tensor xc = x.detach() - per_channel(mean, x);
    Tensor s2 = sum(xc * xc, dims).to(DType::F64).clone();
    reducer->allreduce_sum(s2);
    var = mul_scalar(s2, 1.0 / count);
  }
  // Normalize with the global statistics: batch_norm's eval-mode kernel with
  // them as the "running" statistics (it also yields invstd).
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor save_mean = Tensor::empty({C}, x.dtype(), x.device());
  Tensor save_invstd = Tensor::empty({C}, x.dtype(), x.device());
  const Tensor w = weight.defined() ? weight.detach().contiguous() : Tensor();
  const Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  SONO_DISPATCH_DEVICE(x, kOp, batch_norm_forward, x, w, b, mean, var.to(x.dtype()), false, 0.0, eps, y, save_mean,
                       save_invstd);
  {
    NoGradGuard ng;
    if (running_mean.defined())
      running_mean.copy_(mul_scalar(running_mean, 1.0 - momentum) + mul_scalar(mean, momentum));
    if (running_var.defined())
      running_var.copy_(mul_scalar(running_var, 1.0 - momentum) +
                        mul_scalar(var, momentum * count / (count - 1.0)).to(running_var.dtype()));
  }
  if (autograd::needs_grad({&input, &weight, &bias}))
    autograd::record(y, std::make_shared<SyncBatchNormBackward>(saved(x), w, save_mean, save_invstd, count, reducer),
                     {input, weight, bias});
  return y;
}

}  // namespace sono
