// conv2d on a cuda device (see ops/conv2d.h): picks the path per call.
//
// Paths: groups == cin == cout with at most 7x7 taps (EfficientNet's
// depthwise convs) -> the hand-written kernels of conv2d_depthwise.cu, which
// read any stride, dilation and asymmetric padding directly; everything else
// (dense, grouped, 1x1) -> cuDNN (conv2d_cudnn.cu). The bias gradient is the
// shared deterministic reduction of ops/cuda/gemm.cu on both paths.
// Layout: every tensor contiguous NCHW / [Cout, Cin/groups, kH, kW], one
// dtype: f32, f64 or bf16 (both paths: bf16 storage, float accumulation).
// Outputs: y, gx, gw, gb overwritten; undefined gradients are skipped.
#include "core/cuda/launch.h"
#include "ops/conv2d.h"
#include "ops/cuda/conv2d_paths.h"
#include "ops/cuda/gemm.h"

namespace sono::cuda {

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y,
                    const Conv2dOptions& opt) {
  const conv::Geometry g = conv::geometry(x, weight, y.shape(), opt);
  if (conv::use_depthwise_kernels(g)) conv::depthwise_forward(g, x, weight, bias, y);
  else conv::cudnn_forward(g, x, weight, bias, y);
}

void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                     const Tensor& gb, const Conv2dOptions& opt) {
  const conv::Geometry g = conv::geometry(x.defined() ? x : gx, weight, gy.shape(), opt);
  if (conv::use_depthwise_kernels(g)) {
    if (gx.defined()) conv::depthwise_backward_input(g, gy, weight, gx);
    if (gw.defined()) conv::depthwise_backward_weight(g, x, gy, gw);
  } else if (gx.defined() || gw.defined()) {
    conv::cudnn_backward(g, x, weight, gy, gx, gw);
  }
  if (gb.defined()) {
    dispatch_real(gy.dtype(), "conv2d_backward", [&](auto tag) {
      using T = SONO_TYPE(tag);
      bias_grad<T>(gy.device().index, gy.data<T>(), g.n, g.cout, g.ho * g.wo, gb.data<T>());
    });
  }
}

}  // namespace sono::cuda
