#pragma once
// bf16 storage on the CPU backend (docs/precision.md). Every CPU kernel takes
// bf16 operands the same way: its first line
//
//   if (bf16::widened(activation_forward, a, x, bf16::out(y))) return;
//
// re-runs the kernel on f32 copies of its bf16 tensors (exact: bf16 is a
// truncated f32) and stores the f32 results of the tensors marked out(...)
// back rounded to nearest even (kernels::copy, scalar_cast). So a CPU bf16
// result is, by construction, BFloat16(the f32 kernel's result on the same
// values): the same ops/math.h formulas and the same float accumulations
// (GEMM and convolution sums, normalization statistics, reductions, loss
// sums), rounded once at the store. It need not be fast; the CUDA kernels
// load and store bf16 directly and are tested against it.
//
// An out(...) tensor's stand-in starts uninitialised: the kernel overwrites
// every element. A kernel that accumulates into its output or writes only
// part of it (axpy, a gradient scattered into zeros) marks it inout(...),
// whose stand-in is widened from the old values. f32 and f64 tensors pass
// through untouched (BatchNorm's f32 parameters and running
// statistics beside a bf16 activation are updated in place); without any
// bf16 tensor widened() returns false and the kernel runs as before.
#include <tuple>
#include <utility>
#include <vector>

#include "core/kernels.h"
#include "core/tensor.h"

namespace sono::bf16 {

// A kernel argument the kernel writes: every element (out), or only some of
// them / on top of the old values (inout).
struct Out {
  const Tensor& t;
  bool keep_old;
};
inline Out out(const Tensor& t) { return {t, false}; }
inline Out inout(const Tensor& t) { return {t, true}; }

namespace detail {

inline bool is_bf16(const Tensor& t) { return t.defined() && t.dtype() == DType::BF16; }
inline bool is_bf16(const Out& o) { return is_bf16(o.t); }
template <class T>
bool is_bf16(const T&) {
  return false;
}

// Tensors become their f32 stand-ins; everything else is passed on as is.
struct Stage {
  std::vector<std::pair<Tensor, Tensor>> stores;  // (bf16 output, its f32 stand-in)
  Tensor operator()(const Tensor& t) {
    if (!is_bf16(t)) return t;
    Tensor w = Tensor::empty(t.shape(), DType::F32, t.device());
    kernels::copy(w, t);
    return w;
  }
  Tensor operator()(const Out& o) {
    if (!is_bf16(o.t)) return o.t;
    Tensor w = o.keep_old ? (*this)(o.t) : Tensor::empty(o.t.shape(), DType::F32, o.t.device());
    stores.emplace_back(o.t, w);
    return w;
  }
  template <class T>
  T operator()(const T& v) {
    return v;
  }
};

}  // namespace detail

// Runs kernel(args...) on f32 stand-ins when any tensor argument is bf16
// (then true); false, doing nothing, otherwise.
template <class F, class... A>
bool widened(F&& kernel, const A&... args) {
  if (!(detail::is_bf16(args) || ...)) return false;
  detail::Stage stage;
  std::tuple<decltype(stage(args))...> staged{stage(args)...};  // braces: evaluated left to right
  std::apply(kernel, staged);
  for (auto& [dst, f32] : stage.stores) kernels::copy(dst, f32);
  return true;
}

}  // namespace sono::bf16
