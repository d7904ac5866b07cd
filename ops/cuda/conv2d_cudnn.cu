// Dense (and grouped) conv2d through cuDNN: forward, backward-data and
// backward-filter (see ops/cuda/conv2d.cu for when this path is used).
//
// Math: cuDNN's cross-correlation, y = conv(x, w) (+ bias through
// cudnnAddTensor); gx = conv_transpose(gy, w); gw = corr(x, gy).
// Layout: NCHW tensors, [Cout, Cin/groups, kH, kW] filters, all contiguous.
// Padding: cuDNN takes one pad per axis applied on both sides. Symmetric pads
// go to cuDNN directly. Asymmetric ones (TF-"same" static pads, e.g. the
// stem's (0, 1, 0, 1)) are applied explicitly instead: x is copied into a
// zero-padded tensor and cuDNN runs unpadded; backward-data produces the
// padded gradient and a crop kernel keeps the interior. (Padding both sides
// with the larger pad and cropping the output would not work: with stride 2
// it shifts which input rows the kept outputs read.) In EfficientNet only the
// 3-channel stem takes this copy; the other asymmetric convs are depthwise and
// never come here.
// Algorithms: chosen once per problem (shape, dtype, pads, strides,
// dilation, groups, direction) from cuDNN's heuristics (the *_v7 queries, no
// benchmarking, so the choice is reproducible), preferring deterministic
// algorithms within a 512 MiB workspace; cached in a map. Math mode is
// CUDNN_FMA_MATH: strict FP32, no TF32, so results stay comparable with the
// CPU backend and PyTorch's FP32 reference.
// Launch: cuDNN calls on the device's handle (bound to its stream), scratch
// from the per-device grow-only workspace; pad and crop are grid-stride loops.
// Outputs: y, gx, gw overwritten (beta = 0); the bias is added onto y.
#include <cudnn.h>

#include <array>
#include <limits>
#include <map>
#include <mutex>

#include "core/cuda/launch.h"
#include "ops/cuda/conv2d_paths.h"

namespace sono::cuda::conv {

namespace {

constexpr size_t kWorkspaceLimit = size_t(512) << 20;

int cudnn_int(int64_t v) {
  SONO_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "conv2d", "size ", v,
             " does not fit cuDNN's 32-bit sizes");
  return int(v);
}

cudnnDataType_t data_type(DType t) { return t == DType::F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT; }

// RAII descriptors; destruction never throws (it runs during unwinding too).
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc(int64_t n, int64_t c, int64_t h, int64_t w, DType t) {
    SONO_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
    SONO_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, data_type(t), cudnn_int(n), cudnn_int(c),
                                                cudnn_int(h), cudnn_int(w)));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc(const Geometry& g, DType t) {
    SONO_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
    SONO_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d, data_type(t), CUDNN_TENSOR_NCHW, cudnn_int(g.cout),
                                                cudnn_int(g.cin / g.groups), cudnn_int(g.kh), cudnn_int(g.kw)));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc(const Geometry& g, int64_t pad_h, int64_t pad_w, DType t) {
    SONO_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
    SONO_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, cudnn_int(pad_h), cudnn_int(pad_w), cudnn_int(g.sh),
                                                     cudnn_int(g.sw), cudnn_int(g.dh), cudnn_int(g.dw),
                                                     CUDNN_CROSS_CORRELATION, data_type(t)));
    SONO_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d, cudnn_int(g.groups)));
    SONO_CUDNN_CHECK(cudnnSetConvolutionMathType(d, CUDNN_FMA_MATH));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

// The descriptors of one call. With explicit padding, x is the padded copy
// (hp x wp) and cuDNN's own pads are 0.
struct Problem {
  Geometry g;
  DType dtype;
  bool explicit_pad;
  int64_t hp, wp, pad_h, pad_w;
  Problem(const Geometry& geo, DType t)
      : g(geo), dtype(t), explicit_pad(!geo.symmetric_padding()),
        hp(explicit_pad ? geo.h + geo.pt + geo.pb : geo.h), wp(explicit_pad ? geo.w + geo.pl + geo.pr : geo.w),
        pad_h(explicit_pad ? 0 : geo.pt), pad_w(explicit_pad ? 0 : geo.pl) {}
};

struct Descriptors {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  explicit Descriptors(const Problem& p)
      : x(p.g.n, p.g.cin, p.hp, p.wp, p.dtype), y(p.g.n, p.g.cout, p.g.ho, p.g.wo, p.dtype), w(p.g, p.dtype),
        conv(p.g, p.pad_h, p.pad_w, p.dtype) {}
};

enum class Direction { Forward, BackwardData, BackwardFilter };

struct Choice {
  int algo = 0;
  size_t workspace = 0;
};

// First usable entry of cuDNN's ranked list: succeeded, no tensor-op (TF32)
// math, workspace within the limit; deterministic ones first.
template <class Perf>
Choice pick(const Perf* perf, int count, const char* what, const Problem& p) {
  for (bool need_deterministic : {true, false}) {
    for (int i = 0; i < count; ++i) {
      const Perf& e = perf[i];
      if (e.status != CUDNN_STATUS_SUCCESS || e.memory > kWorkspaceLimit) continue;
      if (e.mathType == CUDNN_TENSOR_OP_MATH || e.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
      if (need_deterministic && e.determinism != CUDNN_DETERMINISTIC) continue;
      return {int(e.algo), e.memory};
    }
  }
  throw Error(str_cat("conv2d: cuDNN has no usable ", what, " algorithm for input [", p.g.n, ", ", p.g.cin, ", ",
                      p.hp, ", ", p.wp, "], weight [", p.g.cout, ", ", p.g.cin / p.g.groups, ", ", p.g.kh, ", ",
                      p.g.kw, "], groups ", p.g.groups, " (", dtype_name(p.dtype), ")"));
}

Choice query(cudnnHandle_t h, const Descriptors& d, Direction dir, const Problem& p) {
  if (dir == Direction::Forward) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    SONO_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.d, d.w.d, d.conv.d, d.y.d,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    return pick(perf, n, "forward", p);
  }
  if (dir == Direction::BackwardData) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    SONO_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                                 CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
    return pick(perf, n, "backward-data", p);
  }
  cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
  int n = 0;
  SONO_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.d, d.y.d, d.conv.d, d.w.d,
                                                                 CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
  return pick(perf, n, "backward-filter", p);
}

// The algorithm of a problem and direction, queried on first use.
Choice choose(int device, cudnnHandle_t h, const Descriptors& d, Direction dir, const Problem& p) {
  using Key = std::array<int64_t, 20>;
  static std::mutex mutex;
  static std::map<Key, Choice> cache;
  const Geometry& g = p.g;
  const Key key{device, int64_t(dir), int64_t(p.dtype), g.n,  g.cin, p.hp, p.wp, g.cout, g.kh,    g.kw,
                g.ho,   g.wo,         g.sh,           g.sw, p.pad_h, p.pad_w, g.dh, g.dw, g.groups, 0};
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, query(h, d, dir, p)).first;
  return it->second;
}

// cuDNN's alpha/beta: float for float data, double for double data.
template <class T>
struct Scale {
  T one = T(1), zero = T(0);
};

template <class T>
struct PadCopy {  // xp = x surrounded by (pt, pb, pl, pr) zeros
  const T* x;
  T* xp;
  int64_t h, w, hp, wp, pt, pl;
  __device__ void operator()(int64_t i) const {
    int64_t t = i / wp;
    const int64_t j = i - t * wp - pl, r = t % hp - pt;
    const int64_t plane = t / hp;
    xp[i] = r >= 0 && r < h && j >= 0 && j < w ? x[(plane * h + r) * w + j] : T(0);
  }
};

template <class T>
struct Crop {  // gx = interior of gxp
  const T* gxp;
  T* gx;
  int64_t h, w, hp, wp, pt, pl;
  __device__ void operator()(int64_t i) const {
    int64_t t = i / w;
    const int64_t j = i - t * w, r = t % h, plane = t / h;
    gx[i] = gxp[(plane * hp + r + pt) * wp + j + pl];
  }
};

template <class T>
Tensor padded_copy(const Problem& p, const Tensor& x) {
  Tensor xp = Tensor::empty({p.g.n, p.g.cin, p.hp, p.wp}, x.dtype(), x.device());
  parallel_for(x.device().index, xp.numel(),
               PadCopy<T>{x.data<T>(), xp.data<T>(), p.g.h, p.g.w, p.hp, p.wp, p.g.pt, p.g.pl});
  return xp;
}

void* workspace_for(int device, const Choice& c) { return c.workspace ? workspace(device, c.workspace) : nullptr; }

}  // namespace

void cudnn_forward(const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& y) {
  const int device = x.device().index;
  const Problem p(g, x.dtype());
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = SONO_TYPE(tag);
    DeviceGuard guard(device);
    cudnnHandle_t h = cudnn_handle(device);
    const Tensor xin = p.explicit_pad ? padded_copy<T>(p, x) : x;
    const Descriptors d(p);
    const Choice c = choose(device, h, d, Direction::Forward, p);
    const Scale<T> s;
    SONO_CUDNN_CHECK(cudnnConvolutionForward(h, &s.one, d.x.d, xin.data<T>(), d.w.d, w.data<T>(), d.conv.d,
                                             cudnnConvolutionFwdAlgo_t(c.algo), workspace_for(device, c), c.workspace,
                                             &s.zero, d.y.d, y.data<T>()));
    if (bias.defined()) {
      const TensorDesc b(1, g.cout, 1, 1, x.dtype());
      SONO_CUDNN_CHECK(cudnnAddTensor(h, &s.one, b.d, bias.data<T>(), &s.one, d.y.d, y.data<T>()));
    }
  });
}

void cudnn_backward(const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx,
                    const Tensor& gw) {
  const int device = gy.device().index;
  const Problem p(g, gy.dtype());
  dispatch_float(gy.dtype(), "conv2d_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    DeviceGuard guard(device);
    cudnnHandle_t h = cudnn_handle(device);
    const Descriptors d(p);
    const Scale<T> s;
    if (gx.defined()) {
      const Choice c = choose(device, h, d, Direction::BackwardData, p);
      const Tensor gxp = p.explicit_pad ? Tensor::empty({g.n, g.cin, p.hp, p.wp}, gx.dtype(), gx.device()) : gx;
      SONO_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &s.one, d.w.d, w.data<T>(), d.y.d, gy.data<T>(), d.conv.d,
                                                    cudnnConvolutionBwdDataAlgo_t(c.algo), workspace_for(device, c),
                                                    c.workspace, &s.zero, d.x.d, gxp.data<T>()));
      if (p.explicit_pad)
        parallel_for(device, gx.numel(), Crop<T>{gxp.data<T>(), gx.data<T>(), g.h, g.w, p.hp, p.wp, g.pt, g.pl});
    }
    if (gw.defined()) {
      const Tensor xin = p.explicit_pad ? padded_copy<T>(p, x) : x;
      const Choice c = choose(device, h, d, Direction::BackwardFilter, p);
      SONO_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &s.one, d.x.d, xin.data<T>(), d.y.d, gy.data<T>(), d.conv.d,
                                                      cudnnConvolutionBwdFilterAlgo_t(c.algo),
                                                      workspace_for(device, c), c.workspace, &s.zero, d.w.d,
                                                      gw.data<T>()));
    }
  });
}

}  // namespace sono::cuda::conv
