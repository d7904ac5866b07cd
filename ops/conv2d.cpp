#include "ops/conv2d.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

constexpr const char* kOp = "conv2d";

std::atomic<ConvAlgoSearch>& algo_search() {
  static std::atomic<ConvAlgoSearch> search{[] {
    const char* env = std::getenv("SONO_CUDNN_BENCHMARK");
    return env && std::strcmp(env, "1") == 0 ? ConvAlgoSearch::Benchmark : ConvAlgoSearch::Heuristic;
  }()};
  return search;
}

// Validates the call and returns the output shape.
Shape conv2d_output_shape(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& o) {
  check_defined_nonempty(x, kOp, "input");
  check_defined_nonempty(weight, kOp, "weight");
  check_real(x, kOp, "input");
  check_same_dtype(x, weight, kOp);
  check_same_device(x, weight, kOp);
  const std::string both = str_cat("input ", x.describe(), " and weight ", weight.describe());
  SONO_CHECK(x.dim() == 4, kOp, "input ", x.describe(), " must be 4-d [N, C, H, W]");
  SONO_CHECK(weight.dim() == 4, kOp, "weight ", weight.describe(), " must be 4-d [Cout, Cin/groups, kH, kW]");
  SONO_CHECK(o.stride_h >= 1 && o.stride_w >= 1 && o.dilation_h >= 1 && o.dilation_w >= 1, kOp, both, ": stride (",
             o.stride_h, ", ", o.stride_w, ") and dilation (", o.dilation_h, ", ", o.dilation_w, ") must be >= 1");
  SONO_CHECK(o.pad_top >= 0 && o.pad_bottom >= 0 && o.pad_left >= 0 && o.pad_right >= 0, kOp, both, ": padding (top ",
             o.pad_top, ", bottom ", o.pad_bottom, ", left ", o.pad_left, ", right ", o.pad_right, ") must be >= 0");
  SONO_CHECK(o.groups >= 1, kOp, both, ": groups ", o.groups, " must be >= 1");
  const int64_t cin = x.size(1), cout = weight.size(0);
  SONO_CHECK(cin % o.groups == 0 && cout % o.groups == 0, kOp, both, ": groups ", o.groups,
             " must divide input channels ", cin, " and output channels ", cout);
  SONO_CHECK(weight.size(1) * o.groups == cin, kOp, both, ": weight expects ", weight.size(1) * o.groups,
             " input channels (", weight.size(1), " per group x ", o.groups, " groups), input has ", cin);
  if (bias.defined()) {
    check_same_dtype(x, bias, kOp);
    check_same_device(x, bias, kOp);
    SONO_CHECK(bias.dim() == 1 && bias.size(0) == cout, kOp, "bias ", bias.describe(), " must be [", cout,
               "] for weight ", weight.describe());
  }
  const int64_t span_h = o.dilation_h * (weight.size(2) - 1) + 1, span_w = o.dilation_w * (weight.size(3) - 1) + 1;
  const int64_t ph = x.size(2) + o.pad_top + o.pad_bottom, pw = x.size(3) + o.pad_left + o.pad_right;
  SONO_CHECK(span_h <= ph && span_w <= pw, kOp, both, ": dilated kernel ", span_h, "x", span_w,
             " is larger than the padded input ", ph, "x", pw);
  return {x.size(0), cout, (ph - span_h) / o.stride_h + 1, (pw - span_w) / o.stride_w + 1};
}

struct Conv2dBackward final : Node {
  // Contiguous and detached; x is kept only when the weight needs a gradient
  // (a frozen layer then holds no activation).
  Tensor x, weight;
  Shape x_shape;
  Conv2dOptions opt;
  Conv2dBackward(Tensor x_, Tensor w_, Shape xs, const Conv2dOptions& o)
      : x(std::move(x_)), weight(std::move(w_)), x_shape(std::move(xs)), opt(o) {}
  const char* name() const override { return "Conv2dBackward"; }
  std::vector<Tensor> apply(const Tensor& grad) override {
    // next[i] is null for an input that needs no gradient: skip its work.
    Tensor gy = grad.contiguous();
    Tensor gx = next[0] ? Tensor::empty(x_shape, weight.dtype(), weight.device()) : Tensor();
    Tensor gw = next[1] ? Tensor::empty(weight.shape(), weight.dtype(), weight.device()) : Tensor();
    Tensor gb = next[2] ? Tensor::empty({weight.size(0)}, weight.dtype(), weight.device()) : Tensor();
    SONO_DISPATCH_DEVICE(gy, kOp, conv2d_backward, x, weight, gy, gx, gw, gb, opt);
    return {gx, gw, gb};
  }
  void release_saved() override { x = weight = Tensor(); }
};

}  // namespace

void set_conv_algo_search(ConvAlgoSearch s) { algo_search().store(s); }
ConvAlgoSearch conv_algo_search() { return algo_search().load(); }

Tensor conv2d(const Tensor& input, const Tensor& weight_in, const Tensor& bias_in, const Conv2dOptions& opt) {
  const Shape out_shape = conv2d_output_shape(input, weight_in, bias_in, opt);
  Tensor x = input.contiguous(), weight = weight_in.contiguous();
  Tensor bias = bias_in.defined() ? bias_in.contiguous() : Tensor();
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, kOp, conv2d_forward, x, weight, bias, y, opt);
  if (autograd::needs_grad({&input, &weight_in, &bias_in}))
    autograd::record(y,
                     std::make_shared<Conv2dBackward>(weight_in.requires_grad() ? saved(x) : Tensor(), saved(weight),
                                                      x.shape(), opt),
                     {input, weight_in, bias_in});
  return y;
}

}  // namespace sono
