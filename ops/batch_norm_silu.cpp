#include "ops/batch_norm_silu.h"

#include "core/autograd.h"
#include "core/backend.h"
#include "ops/batch_norm_args.h"

namespace sono {

namespace {

struct BatchNormSiluBackward final : Node {
  Tensor x, weight, bias, save_mean, save_invstd;
  bool training;
  BatchNormSiluBackward(Tensor x_, Tensor w, Tensor b, Tensor m, Tensor i, bool t)
      : x(std::move(x_)),
        weight(std::move(w)),
        bias(std::move(b)),
        save_mean(std::move(m)),
        save_invstd(std::move(i)),
        training(t) {}
  const char* name() const override { return "BatchNormSiluBackward"; }
  std::vector<Tensor> apply(const Tensor& gy) override {
    Tensor g = gy.contiguous();
    Tensor gx = input_grad_if(next[0], x), gw = channel_grad_if(next[1], x), gb = channel_grad_if(next[2], x);
    SONO_DISPATCH_DEVICE(x, "batch_norm_silu", batch_norm_silu_backward, x, weight, bias, save_mean, save_invstd, g,
                         training, gx, gw, gb);
    return {gx, gw, gb};
  }
  void release_saved() override { x = weight = bias = save_mean = save_invstd = Tensor(); }
};

}  // namespace

Tensor batch_norm_silu(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps) {
  const char* op = "batch_norm_silu";
  BatchNormArgs a = prepare_batch_norm(op, input, weight, bias, running_mean, running_var, training);
  Tensor y = Tensor::empty(a.x.shape(), a.x.dtype(), a.x.device());
  SONO_DISPATCH_DEVICE(a.x, op, batch_norm_silu_forward, a.x, a.weight, a.bias, a.running_mean, a.running_var, training,
                       momentum, eps, y, a.save_mean, a.save_invstd);
  write_back_running_stats(a, running_mean, running_var, training);

  if (autograd::needs_grad({&input, &weight, &bias}))
    autograd::record(y,
                     std::make_shared<BatchNormSiluBackward>(saved(a.x), saved(a.weight), saved(a.bias), a.save_mean,
                                                             a.save_invstd, training),
                     {input, weight, bias});
  return y;
}

}  // namespace sono
