#pragma once
// 2-d convolution (cross-correlation, like PyTorch) over NCHW tensors.
// x [N, Cin, H, W], weight [Cout, Cin/groups, kH, kW], bias [Cout] or undefined.
// Padding is explicit per side (zeros), so TF-"same" static padding such as
// (left 0, right 1, top 0, bottom 1) is expressed directly.
#include "core/backend.h"
#include "core/tensor.h"

namespace sono {

struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;

  static Conv2dOptions symmetric(int64_t pad, int64_t stride = 1, int64_t groups = 1) {
    Conv2dOptions o;
    o.stride_h = o.stride_w = stride;
    o.pad_top = o.pad_bottom = o.pad_left = o.pad_right = pad;
    o.groups = groups;
    return o;
  }
};

// Output [N, Cout, Hout, Wout] with Hout = (H + pad_top + pad_bottom - dil*(kH-1) - 1)/stride + 1.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& opt);

// How the CUDA backend picks cuDNN's algorithm per convolution shape (no
// effect on the CPU). Heuristic, the default: cuDNN's ranked guess, no timing,
// the same choice on every run. Benchmark: cudnnFind times the candidates once
// per shape and keeps the fastest (torch.backends.cudnn.benchmark), which slows
// the first call of each new shape. Starts as Benchmark when the environment
// has SONO_CUDNN_BENCHMARK=1. Thread-safe.
enum class ConvAlgoSearch { Heuristic, Benchmark };
void set_conv_algo_search(ConvAlgoSearch s);
ConvAlgoSearch conv_algo_search();

// ---- backends: every tensor contiguous, shapes already validated by conv2d() ----
// y [N, Cout, Hout, Wout] is fully overwritten; bias may be undefined.
// Backward: gx, gw, gb are fully overwritten; any of them may be undefined
// (that gradient is not needed) and is then skipped. x may be undefined when
// gw is (the input geometry then comes from gx).
SONO_BACKEND_FN(void, conv2d_forward,
                (const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& y, const Conv2dOptions& opt));
SONO_BACKEND_FN(void, conv2d_backward,
                (const Tensor& x, const Tensor& weight, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                 const Tensor& gb, const Conv2dOptions& opt));

}  // namespace sono
