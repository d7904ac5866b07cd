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
// Plans: the descriptors of a problem and the algorithm of each direction are
// made once and kept in a per-device LRU cache (kPlanCacheSize plans, owned
// by the CUDA context, freed by reset_context), keyed on the full geometry,
// the dtype, the precision and the search mode.
// Algorithms: with ConvAlgoSearch::Heuristic (default) from cuDNN's ranked
// heuristics (the *_v7 queries, no timing, so the choice is reproducible);
// with ::Benchmark from cudnnFind*Ex, which times the candidates once on the
// call's own buffers. Either way deterministic algorithms within a 512 MiB
// workspace come first.
// Math (core/precision.h): Precision::FP32 sets CUDNN_FMA_MATH and refuses
// tensor-op algorithms (strict FP32, comparable with the CPU backend and
// PyTorch's FP32 reference); Precision::TF32 allows CUDNN_DEFAULT_MATH and the
// tensor-op (TF32) algorithms for f32 data, as PyTorch's allow_tf32. f64
// always runs as FP32. bf16 (whatever the precision): CUDNN_DATA_BFLOAT16
// tensors and filters, a CUDNN_DATA_FLOAT convolution (float accumulation),
// tensor-op algorithms allowed; the bias is seeded into y and the convolution
// adds onto it (beta = 1), so y = conv + bias is rounded to bf16 once.
// Launch: cuDNN calls on the device's handle (bound to its stream), scratch
// from the per-device grow-only workspace; pad and crop are grid-stride loops.
// Outputs: y, gx, gw overwritten (beta = 0); the bias is added onto y.
#include <cudnn.h>

#include <array>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <mutex>

#include "core/cuda/launch.h"
#include "core/precision.h"
#include "ops/cuda/conv2d_paths.h"
#include "ops/cuda/gemm.h"

namespace sono::cuda::conv {

namespace {

constexpr size_t kWorkspaceLimit = size_t(512) << 20;
// EfficientNet-B4 + FPN has ~150 distinct dense conv problems per input size
// and batch size; this keeps a few such sets.
constexpr size_t kPlanCacheSize = 512;

int cudnn_int(int64_t v) {
  SONO_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "conv2d", "size ", v,
             " does not fit cuDNN's 32-bit sizes");
  return int(v);
}

cudnnDataType_t data_type(DType t) {
  if (t == DType::F64) return CUDNN_DATA_DOUBLE;
  return t == DType::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}
// The convolution's accumulation type: float for f32 and bf16 data.
cudnnDataType_t compute_type(DType t) { return t == DType::F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT; }

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
  ConvDesc(const Geometry& g, int64_t pad_h, int64_t pad_w, DType t, cudnnMathType_t math) {
    SONO_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
    SONO_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, cudnn_int(pad_h), cudnn_int(pad_w), cudnn_int(g.sh),
                                                     cudnn_int(g.sw), cudnn_int(g.dh), cudnn_int(g.dw),
                                                     CUDNN_CROSS_CORRELATION, compute_type(t)));
    SONO_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d, cudnn_int(g.groups)));
    SONO_CUDNN_CHECK(cudnnSetConvolutionMathType(d, math));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
};

// The descriptors of one call. With explicit padding, x is the padded copy
// (hp x wp) and cuDNN's own pads are 0.
// tf32: TF32 tensor-op math allowed (Precision::TF32 and f32 data).
struct Problem {
  Geometry g;
  DType dtype;
  bool tf32;
  // Tensor-op algorithms may be chosen: TF32 for f32 data, always for bf16.
  bool tensor_ops() const { return tf32 || dtype == DType::BF16; }
  ConvAlgoSearch search;
  bool explicit_pad;
  int64_t hp, wp, pad_h, pad_w;
  Problem(const Geometry& geo, DType t)
      : g(geo),
        dtype(t),
        tf32(t == DType::F32 && precision() == Precision::TF32),
        search(conv_algo_search()),
        explicit_pad(!geo.symmetric_padding()),
        hp(explicit_pad ? geo.h + geo.pt + geo.pb : geo.h),
        wp(explicit_pad ? geo.w + geo.pl + geo.pr : geo.w),
        pad_h(explicit_pad ? 0 : geo.pt),
        pad_w(explicit_pad ? 0 : geo.pl) {}

  using Key = std::array<int64_t, 21>;
  Key key() const {
    return {int64_t(dtype),
            int64_t(tf32),
            int64_t(search),
            g.n,
            g.cin,
            g.h,
            g.w,
            g.cout,
            g.kh,
            g.kw,
            g.ho,
            g.wo,
            g.sh,
            g.sw,
            g.pt,
            g.pb,
            g.pl,
            g.pr,
            g.dh,
            g.dw,
            g.groups};
  }
};

enum class Direction { Forward, BackwardData, BackwardFilter };
constexpr int kDirections = 3;

struct Choice {
  int algo = 0;
  size_t workspace = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;
};

// First usable entry of cuDNN's ranked list: succeeded, workspace within the
// limit, no tensor-op math unless tensor_ops(); deterministic ones first.
template <class Perf>
Choice pick(const Perf* perf, int count, const char* what, const Problem& p) {
  for (bool need_deterministic : {true, false}) {
    for (int i = 0; i < count; ++i) {
      const Perf& e = perf[i];
      if (e.status != CUDNN_STATUS_SUCCESS || e.memory > kWorkspaceLimit) continue;
      const bool tensor_op = e.mathType == CUDNN_TENSOR_OP_MATH || e.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
      if (tensor_op && !p.tensor_ops()) continue;
      if (need_deterministic && e.determinism != CUDNN_DETERMINISTIC) continue;
      // Strict FP32 executes with FMA math whatever the entry reports, so a
      // CUDNN_DEFAULT_MATH entry can never let TF32 in.
      return {int(e.algo), e.memory, p.tensor_ops() ? e.mathType : CUDNN_FMA_MATH};
    }
  }
  throw Error(str_cat("conv2d: cuDNN has no usable ", what, " algorithm for input [", p.g.n, ", ", p.g.cin, ", ", p.hp,
                      ", ", p.wp, "], weight [", p.g.cout, ", ", p.g.cin / p.g.groups, ", ", p.g.kh, ", ", p.g.kw,
                      "], groups ", p.g.groups, " (", dtype_name(p.dtype), ")"));
}

// The buffers of the call a plan is made for: cudnnFind runs the candidates on
// them (the outputs are overwritten by the real call right after).
struct Buffers {
  const void* x;  // input (the padded copy with explicit padding)
  const void* w;
  const void* y;  // output or its gradient
  void* out;      // what the direction writes: y, gx (padded) or gw
};

// The descriptors of one problem and, per direction, its convolution
// descriptor (whose math type follows the chosen algorithm) and algorithm,
// chosen on the direction's first use.
class Plan {
 public:
  explicit Plan(const Problem& p)
      : x(p.g.n, p.g.cin, p.hp, p.wp, p.dtype),
        y(p.g.n, p.g.cout, p.g.ho, p.g.wo, p.dtype),
        bias(1, p.g.cout, 1, 1, p.dtype),
        w(p.g, p.dtype),
        p_(p) {}

  TensorDesc x, y, bias;
  FilterDesc w;

  // The convolution descriptor and algorithm of `dir`, chosen on first use.
  std::pair<cudnnConvolutionDescriptor_t, Choice> route(int device, cudnnHandle_t h, Direction dir, const Buffers& b) {
    std::lock_guard<std::mutex> lock(mutex_);
    Route& r = routes_[int(dir)];
    if (!r.conv) {
      auto conv = std::make_unique<ConvDesc>(p_.g, p_.pad_h, p_.pad_w, p_.dtype,
                                             p_.tensor_ops() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH);
      r.choice = p_.search == ConvAlgoSearch::Benchmark ? find(device, h, conv->d, dir, b) : query(h, conv->d, dir);
      SONO_CUDNN_CHECK(cudnnSetConvolutionMathType(conv->d, r.choice.math));
      r.conv = std::move(conv);
    }
    return {r.conv->d, r.choice};
  }

 private:
  struct Route {
    std::unique_ptr<ConvDesc> conv;
    Choice choice;
  };

  Choice query(cudnnHandle_t h, cudnnConvolutionDescriptor_t conv, Direction dir) const {
    if (dir == Direction::Forward) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int n = 0;
      SONO_CUDNN_CHECK(
          cudnnGetConvolutionForwardAlgorithm_v7(h, x.d, w.d, conv, y.d, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
      return pick(perf, n, "forward", p_);
    }
    if (dir == Direction::BackwardData) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int n = 0;
      SONO_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w.d, y.d, conv, x.d,
                                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf));
      return pick(perf, n, "backward-data", p_);
    }
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    SONO_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x.d, y.d, conv, w.d,
                                                                   CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf));
    return pick(perf, n, "backward-filter", p_);
  }

  // cudnnFind*Ex: runs every candidate on the call's buffers, fastest first.
  Choice find(int device, cudnnHandle_t h, cudnnConvolutionDescriptor_t conv, Direction dir, const Buffers& b) const {
    void* ws = workspace(device, kWorkspaceLimit);
    if (dir == Direction::Forward) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int n = 0;
      SONO_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
          h, x.d, b.x, w.d, b.w, conv, y.d, b.out, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf, ws, kWorkspaceLimit));
      return pick(perf, n, "forward", p_);
    }
    if (dir == Direction::BackwardData) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int n = 0;
      SONO_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(h, w.d, b.w, y.d, b.y, conv, x.d, b.out,
                                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf, ws,
                                                                   kWorkspaceLimit));
      return pick(perf, n, "backward-data", p_);
    }
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    SONO_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(h, x.d, b.x, y.d, b.y, conv, w.d, b.out,
                                                                   CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf,
                                                                   ws, kWorkspaceLimit));
    return pick(perf, n, "backward-filter", p_);
  }

  const Problem p_;
  std::mutex mutex_;  // guards routes_
  std::array<Route, kDirections> routes_;
};

// The plans of one device, least recently used evicted first. A plan in use
// by a call stays alive (shared_ptr) even if another thread evicts it.
class PlanCache final : public ContextCache {
 public:
  explicit PlanCache(int) {}

  std::shared_ptr<Plan> get(const Problem& p) {
    const Problem::Key key = p.key();
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = plans_.find(key);
    if (it != plans_.end()) {
      order_.splice(order_.begin(), order_, it->second.second);  // now most recent
      return it->second.first;
    }
    auto plan = std::make_shared<Plan>(p);
    if (plans_.size() >= kPlanCacheSize) {
      plans_.erase(order_.back());
      order_.pop_back();
    }
    order_.push_front(key);
    plans_.emplace(key, std::make_pair(plan, order_.begin()));
    return plan;
  }

 private:
  std::mutex mutex_;
  std::list<Problem::Key> order_;  // most recently used first
  std::map<Problem::Key, std::pair<std::shared_ptr<Plan>, std::list<Problem::Key>::iterator>> plans_;
};

std::shared_ptr<Plan> plan_for(int device, const Problem& p) { return context_cache<PlanCache>(device).get(p); }

// cuDNN's alpha/beta: float for float and bf16 data, double for double data.
template <class T>
struct Scale {
  compute_t<T> one = 1, zero = 0;
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
    xp[i] = r >= 0 && r < h && j >= 0 && j < w ? x[(plane * h + r) * w + j] : scalar_cast<T>(0);
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
  dispatch_real(x.dtype(), "conv2d", [&](auto tag) {
    using T = SONO_TYPE(tag);
    DeviceGuard guard(device);
    cudnnHandle_t h = cudnn_handle(device);
    const Tensor xin = p.explicit_pad ? padded_copy<T>(p, x) : x;
    const std::shared_ptr<Plan> plan = plan_for(device, p);
    const auto [conv, c] =
        plan->route(device, h, Direction::Forward, Buffers{xin.data<T>(), w.data<T>(), y.data<T>(), y.data<T>()});
    const Scale<T> s;
    // bf16: the bias seeds y (after route(), whose search may write y) and
    // the convolution adds onto it in float: one rounding.
    const bool seed = bias.defined() && p.dtype == DType::BF16;
    if (seed) broadcast_bias<T>(device, bias.data<T>(), g.n, g.cout, g.ho * g.wo, y.data<T>());
    SONO_CUDNN_CHECK(cudnnConvolutionForward(h, &s.one, plan->x.d, xin.data<T>(), plan->w.d, w.data<T>(), conv,
                                             cudnnConvolutionFwdAlgo_t(c.algo), workspace_for(device, c), c.workspace,
                                             seed ? &s.one : &s.zero, plan->y.d, y.data<T>()));
    if (bias.defined() && !seed)
      SONO_CUDNN_CHECK(cudnnAddTensor(h, &s.one, plan->bias.d, bias.data<T>(), &s.one, plan->y.d, y.data<T>()));
  });
}

void cudnn_backward(const Geometry& g, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx,
                    const Tensor& gw) {
  const int device = gy.device().index;
  const Problem p(g, gy.dtype());
  dispatch_real(gy.dtype(), "conv2d_backward", [&](auto tag) {
    using T = SONO_TYPE(tag);
    DeviceGuard guard(device);
    cudnnHandle_t h = cudnn_handle(device);
    const std::shared_ptr<Plan> plan = plan_for(device, p);
    const Scale<T> s;
    if (gx.defined()) {
      const Tensor gxp = p.explicit_pad ? Tensor::empty({g.n, g.cin, p.hp, p.wp}, gx.dtype(), gx.device()) : gx;
      const auto [conv, c] =
          plan->route(device, h, Direction::BackwardData, Buffers{nullptr, w.data<T>(), gy.data<T>(), gxp.data<T>()});
      SONO_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &s.one, plan->w.d, w.data<T>(), plan->y.d, gy.data<T>(), conv,
                                                    cudnnConvolutionBwdDataAlgo_t(c.algo), workspace_for(device, c),
                                                    c.workspace, &s.zero, plan->x.d, gxp.data<T>()));
      if (p.explicit_pad)
        parallel_for(device, gx.numel(), Crop<T>{gxp.data<T>(), gx.data<T>(), g.h, g.w, p.hp, p.wp, g.pt, g.pl});
    }
    if (gw.defined()) {
      const Tensor xin = p.explicit_pad ? padded_copy<T>(p, x) : x;
      const auto [conv, c] = plan->route(device, h, Direction::BackwardFilter,
                                         Buffers{xin.data<T>(), nullptr, gy.data<T>(), gw.data<T>()});
      SONO_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
          h, &s.one, plan->x.d, xin.data<T>(), plan->y.d, gy.data<T>(), conv, cudnnConvolutionBwdFilterAlgo_t(c.algo),
          workspace_for(device, c), c.workspace, &s.zero, plan->w.d, gw.data<T>()));
    }
  });
}

}  // namespace sono::cuda::conv
