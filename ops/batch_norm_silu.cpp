#include "ops/batch_norm_silu.h"

#include "core/autograd.h"
#include "core/backend.h"
#include "ops/batch_norm_args.h"

namespace sono {

namespace {

struct BatchNormSiluBackward final : NormBackward {
  bool training;
  BatchNormSiluBackward(const BatchNormArgs& a, const Tensor& weight, const Tensor& bias, bool t)
      : NormBackward(saved(a.x), saved(a.weight), saved(a.bias), a.save_mean, a.save_invstd, param_dtype(weight, a.x),
                     param_dtype(bias, a.x)),
        training(t) {}
  const char* name() const override { return "BatchNormSiluBackward"; }
  void kernel(const Tensor& gy, const Tensor& gx, const Tensor& gw, const Tensor& gb) override {
    SONO_DISPATCH_DEVICE(x, "batch_norm_silu", batch_norm_silu_backward, x, weight, bias, save_mean, save_invstd, gy,
                         training, gx, gw, gb);
  }
};

}  // namespace

Tensor batch_norm_silu(const Tensor& input, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                       const Tensor& running_var, bool training, double momentum, double eps) {
  return run_batch_norm(
      "batch_norm_silu", input, weight, bias, running_mean, running_var, training,
      [&](const BatchNormArgs& a, const Tensor& y) {
        SONO_DISPATCH_DEVICE(a.x, "batch_norm_silu", batch_norm_silu_forward, a.x, a.weight, a.bias, a.running_mean,
                             a.running_var, training, momentum, eps, y, a.save_mean, a.save_invstd);
      },
      [&](const BatchNormArgs& a) { return std::make_shared<BatchNormSiluBackward>(a, weight, bias, training); });
}

}  // namespace sono
