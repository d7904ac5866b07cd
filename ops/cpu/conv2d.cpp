// CPU conv2d: picks the direct depthwise kernel, Winograd (f32 3x3 stride 1,
// forward and both gradients, where winograd_applies), or the GEMM path
// (im2col, or the input itself for a 1x1 stride-1 unpadded conv).
// Layout: contiguous NCHW x/y, weight [Cout, Cin/groups, kH, kW]. Outputs: y,
// gx, gw, gb are overwritten (never accumulated); undefined gradients are skipped.
#include <type_traits>

#include "core/bf16_cpu.h"
#include "ops/conv2d.h"
#include "ops/cpu/conv2d_paths.h"
#include "ops/cpu/gemm.h"

namespace sono::cpu {

namespace {

// Optional tensors (bias, gradients not asked for) map to null pointers.
template <class T>
T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y,
                    const Conv2dOptions& opt) {
  if (bf16::widened(conv2d_forward, x, weight, bias, bf16::out(y), opt)) return;
  const conv::Geometry g = conv::geometry(x, weight, y.shape(), opt);
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* b = data_or_null<scalar_t>(bias);
    if (g.depthwise()) conv::depthwise_forward(g, x.data<scalar_t>(), weight.data<scalar_t>(), b, y.data<scalar_t>());
    else if constexpr (std::is_same_v<scalar_t, float>) {
      if (conv::winograd_applies(g, false))
        conv::winograd_forward(g, x.data<float>(), weight.data<float>(), b, y.data<float>());
      else conv::gemm_conv_forward(g, x.data<float>(), weight.data<float>(), b, y.data<float>());
    } else conv::gemm_conv_forward(g, x.data<scalar_t>(), weight.data<scalar_t>(), b, y.data<scalar_t>());
  });
}

void conv2d_backward(const Tensor& x, const Tensor& weight, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                     const Tensor& gb, const Conv2dOptions& opt) {
  if (bf16::widened(conv2d_backward, x, weight, gy, bf16::out(gx), bf16::out(gw), bf16::out(gb), opt)) return;
  const conv::Geometry g = conv::geometry(x.defined() ? x : gx, weight, gy.shape(), opt);
  dispatch_float(gy.dtype(), "conv2d_backward", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* xp = data_or_null<scalar_t>(x);
    const scalar_t* wp = weight.data<scalar_t>();
    const scalar_t* gyp = gy.data<scalar_t>();
    scalar_t* gxp = data_or_null<scalar_t>(gx);
    scalar_t* gwp = data_or_null<scalar_t>(gw);
    if (g.depthwise()) {
      if (gxp) conv::depthwise_backward_input(g, gyp, wp, gxp);
      if (gwp) conv::depthwise_backward_weight(g, xp, gyp, gwp);
    } else if (gxp || gwp) {
      bool winograd = false;
      if constexpr (std::is_same_v<scalar_t, float>) {
        winograd = conv::winograd_applies(g, true);
        if (winograd && gxp) conv::winograd_backward_input(g, wp, gyp, gxp);
        if (winograd && gwp) conv::winograd_backward_weight(g, xp, gyp, gwp);
      }
      if (!winograd) conv::gemm_conv_backward(g, xp, wp, gyp, gxp, gwp);
    }
    if (gb.defined()) bias_grad(gyp, g.n, g.cout, g.ho * g.wo, gb.data<scalar_t>());
  });
}

}  // namespace sono::cpu
