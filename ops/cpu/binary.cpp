// CPU broadcasting add/sub/mul/div and the scalar affine form alpha * x + beta.
// Operands may broadcast against the output; out is contiguous and every
// element is overwritten (never accumulated). Common model patterns (equal
// shapes, a per-[N, C] gate against [N, C, H, W], a [C] vector against
// [N, C], scalars) take a 2-d [outer, inner] fast path; any other broadcast
// walks the output with stride-0 operand dims.
#include <array>
#include <type_traits>

#include "core/bf16_cpu.h"
#include "core/parallel.h"
#include "core/strided.h"
#include "ops/binary.h"

namespace sono::cpu {

namespace {

// The output is seen as [outer, inner]. An operand is either the full output
// shape, or indexed by the outer position only (e.g. [N, C, 1, 1] against
// [N, C, H, W]: the squeeze-excitation gate; [] is the case outer = 1), or by
// the inner position only (e.g. [C] against [N, C]).
enum class Pat { Full, Outer, Inner };

template <Pat P>
inline int64_t at(int64_t o, int64_t i, int64_t inner) {
  if constexpr (P == Pat::Full) return o * inner + i;
  else if constexpr (P == Pat::Outer) return o;
  else return i;
}

template <Pat PA, Pat PB, class F, class T>
void run_2d(F f, const T* a, const T* b, T* out, int64_t outer, int64_t inner) {
  if (outer == 1) {
    parallel_for(inner, worth_parallel(inner), [&](int64_t i0, int64_t i1) {
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) out[i] = f(a[at<PA>(0, i, inner)], b[at<PB>(0, i, inner)]);
    });
    return;
  }
  parallel_for(outer, worth_parallel(outer * inner), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      T* dst = out + o * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; ++i) dst[i] = f(a[at<PA>(o, i, inner)], b[at<PB>(o, i, inner)]);
    }
  });
}

// Whether a contiguous operand of shape s (left-padded with ones to out's
// rank) follows pattern p when out is split into [out[:k], out[k:]].
bool fits(const Shape& s, const Shape& out, size_t k, Pat p) {
  const size_t lead = out.size() - s.size();
  for (size_t d = 0; d < out.size(); ++d) {
    int64_t have = d < lead ? 1 : s[d - lead];
    int64_t want = out[d];
    if (p == Pat::Outer && d >= k) want = 1;
    if (p == Pat::Inner && d < k) want = 1;
    if (have != want) return false;
  }
  return true;
}

struct Plan {
  bool fast = false;
  Pat a = Pat::Full, b = Pat::Full;
  int64_t outer = 1, inner = 1;
};

Plan make_plan(const Shape& sa, const Shape& sb, const Shape& out) {
  static constexpr std::array<std::array<Pat, 2>, 7> kCombos{{{Pat::Full, Pat::Full},
                                                              {Pat::Full, Pat::Outer},
                                                              {Pat::Outer, Pat::Full},
                                                              {Pat::Full, Pat::Inner},
                                                              {Pat::Inner, Pat::Full},
                                                              {Pat::Outer, Pat::Inner},
                                                              {Pat::Inner, Pat::Outer}}};
  for (size_t k = 0; k <= out.size(); ++k) {
    for (const auto& c : kCombos) {
      if (!fits(sa, out, k, c[0]) || !fits(sb, out, k, c[1])) continue;
      Plan p;
      p.fast = true;
      p.a = c[0];
      p.b = c[1];
      for (size_t d = 0; d < out.size(); ++d) (d < k ? p.outer : p.inner) *= out[d];
      return p;
    }
  }
  return {};
}

template <Pat P>
using PatC = std::integral_constant<Pat, P>;

template <class F, class T>
void run_plan(const Plan& p, F f, const T* a, const T* b, T* out) {
  auto go = [&](auto pa, auto pb) { run_2d<decltype(pa)::value, decltype(pb)::value>(f, a, b, out, p.outer, p.inner); };
  using Full = PatC<Pat::Full>;
  using Outer = PatC<Pat::Outer>;
  using Inner = PatC<Pat::Inner>;
  if (p.a == Pat::Full && p.b == Pat::Full) go(Full{}, Full{});
  else if (p.a == Pat::Full && p.b == Pat::Outer) go(Full{}, Outer{});
  else if (p.a == Pat::Outer && p.b == Pat::Full) go(Outer{}, Full{});
  else if (p.a == Pat::Full && p.b == Pat::Inner) go(Full{}, Inner{});
  else if (p.a == Pat::Inner && p.b == Pat::Full) go(Inner{}, Full{});
  else if (p.a == Pat::Outer && p.b == Pat::Inner) go(Outer{}, Inner{});
  else go(Inner{}, Outer{});
}

}  // namespace

void binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  if (bf16::widened(binary_forward, op, a, b, bf16::out(out))) return;
  const Plan plan = make_plan(a.shape(), b.shape(), out.shape());
  dispatch_float(out.dtype(), "binary", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* pa = a.data<scalar_t>();
    const scalar_t* pb = b.data<scalar_t>();
    scalar_t* po = out.data<scalar_t>();
    dispatch_binary(op, [&](auto f) {
      if (plan.fast) return run_plan(plan, f, pa, pb, po);
      // Any other broadcast: walk the output with stride-0 operand dims.
      Shape sa = broadcast_strides(a.shape(), a.strides(), out.shape());
      Shape sb = broadcast_strides(b.shape(), b.strides(), out.shape());
      for_each_offset<3>(out.shape(), {&out.strides(), &sa, &sb},
                         [&](const std::array<int64_t, 3>& o) { po[o[0]] = f(pa[o[1]], pb[o[2]]); });
    });
  });
}

void affine_forward(const Tensor& x, double alpha, double beta, const Tensor& out) {
  if (bf16::widened(affine_forward, x, alpha, beta, bf16::out(out))) return;
  dispatch_float(x.dtype(), "affine", [&](auto tag) {
    using scalar_t = SONO_TYPE(tag);
    const scalar_t* in = x.data<scalar_t>();
    scalar_t* o = out.data<scalar_t>();
    const scalar_t al = scalar_t(alpha), be = scalar_t(beta);
    const int64_t n = x.numel();
    // Exact single-operation forms, as PyTorch's x * s and x + s.
    if (beta == 0.0) {
      parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
        for (int64_t i = i0; i < i1; ++i) o[i] = al * in[i];
      });
    } else if (alpha == 1.0) {
      parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
        for (int64_t i = i0; i < i1; ++i) o[i] = in[i] + be;
      });
    } else {
      parallel_for(n, worth_parallel(n), [&](int64_t i0, int64_t i1) {
#pragma omp simd
        for (int64_t i = i0; i < i1; ++i) o[i] = al * in[i] + be;
      });
    }
  });
}

}  // namespace sono::cpu
