#include "ops/reduce.h"

#include "core/autograd.h"
#include "core/backend.h"
#include "ops/binary.h"

namespace sono {

namespace {

int checked_dim(const Tensor& x, int64_t dim, const char* op) {
  SONO_CHECK(dim >= -x.dim() && dim < x.dim(), op, "dim ", dim, " out of range for ", x.describe());
  return normalize_dim(dim, size_t(x.dim()), op);
}

// Which dims of x a reduction over `dims` removes.
std::vector<bool> reduced_dims(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  SONO_CHECK(x.defined(), op, "input is an undefined tensor");
  // PyTorch reduces everything for an empty list and NumPy nothing: refuse to guess.
  SONO_CHECK(!dims.empty(), op, "empty dims list for ", x.describe(), " (call ", op, "(x) to reduce all dims)");
  std::vector<bool> reduced(size_t(x.dim()), false);
  for (int64_t d : dims) {
    int nd = checked_dim(x, d, op);
    SONO_CHECK(!reduced[size_t(nd)], op, "dim ", d, " given twice for ", x.describe());
    reduced[size_t(nd)] = true;
  }
  return reduced;
}

struct SumBackward final : Node {
  Shape in_shape, keep_shape;
  double scale;
  SumBackward(Shape in, Shape keep, double s) : in_shape(std::move(in)), keep_shape(std::move(keep)), scale(s) {}
  const char* name() const override { return "SumBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override {
    Tensor gs = scale == 1.0 ? g : mul_scalar(g, scale);  // scale the small tensor, then broadcast
    return {gs.reshape(keep_shape).expand(in_shape).contiguous()};
  }
};

// Sum (times 1/count for mean) over the dims flagged in `reduced`.
Tensor reduce_sum(const Tensor& x, const std::vector<bool>& reduced, bool keepdim, bool mean, const char* op) {
  check_defined_nonempty(x, op, "input");
  check_real(x, op, "input");
  const Shape& shape = x.shape();
  Shape keep_shape = shape, out_shape;
  int64_t count = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (reduced[d]) {
      count *= shape[d];
      keep_shape[d] = 1;
      if (keepdim) out_shape.push_back(1);
    } else {
      out_shape.push_back(shape[d]);
    }
  }
  const double scale = mean ? 1.0 / double(count) : 1.0;

  // Merge neighbouring dims of the same kind (size-1 dims don't matter), so
  // that each stage below reduces the middle of an [outer, r, inner] view.
  std::vector<std::pair<int64_t, bool>> runs;  // (size, reduced)
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!runs.empty() && runs.back().second == reduced[d]) runs.back().first *= shape[d];
    else runs.emplace_back(shape[d], reduced[d]);
  }
  auto last_reduced = [&]() {
    for (size_t j = runs.size(); j-- > 0;)
      if (runs[j].second) return int64_t(j);
    return int64_t(-1);
  };

  Tensor cur = x.contiguous();
  int64_t j = last_reduced();
  do {  // at least one stage, so the result never aliases x
    int64_t outer = 1, r = 1, inner = 1;
    if (j < 0) {
      outer = cur.numel();
    } else {
      for (int64_t k = 0; k < j; ++k) outer *= runs[size_t(k)].first;
      r = runs[size_t(j)].first;
      for (size_t k = size_t(j) + 1; k < runs.size(); ++k) inner *= runs[k].first;
      runs.erase(runs.begin() + j);
      if (j > 0 && size_t(j) < runs.size()) {  // the kept neighbours become adjacent
        runs[size_t(j) - 1].first *= runs[size_t(j)].first;
        runs.erase(runs.begin() + j);
      }
    }
    j = last_reduced();
    // bf16: the partial sums between stages stay f32, rounded once at the end.
    const DType stage_dtype = j < 0 || x.dtype() != DType::BF16 ? x.dtype() : DType::F32;
    Tensor next = Tensor::empty({outer * inner}, stage_dtype, x.device());
    SONO_DISPATCH_DEVICE(x, op, sum_middle, cur, outer, r, inner, j < 0 ? scale : 1.0, next);
    cur = next;
  } while (j >= 0);

  Tensor out = cur.reshape(out_shape);
  if (autograd::needs_grad({&x})) autograd::record(out, std::make_shared<SumBackward>(shape, keep_shape, scale), {x});
  return out;
}

std::vector<bool> all_dims(const Tensor& x) { return std::vector<bool>(size_t(x.defined() ? x.dim() : 0), true); }

}  // namespace

Tensor sum(const Tensor& x) { return reduce_sum(x, all_dims(x), false, false, "sum"); }
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_sum(x, reduced_dims(x, dims, "sum"), keepdim, false, "sum");
}
Tensor mean(const Tensor& x) { return reduce_sum(x, all_dims(x), false, true, "mean"); }
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_sum(x, reduced_dims(x, dims, "mean"), keepdim, true, "mean");
}

Tensor argmax(const Tensor& x, int64_t dim) {
  check_defined_nonempty(x, "argmax", "input");
  check_real(x, "argmax", "input");
  const int d = checked_dim(x, dim, "argmax");
  int64_t outer = 1, inner = 1;
  Shape out_shape;
  for (int k = 0; k < int(x.dim()); ++k) {
    if (k < d) outer *= x.shape()[size_t(k)];
    if (k > d) inner *= x.shape()[size_t(k)];
    if (k != d) out_shape.push_back(x.shape()[size_t(k)]);
  }
  Tensor xc = x.contiguous();
  Tensor out = Tensor::empty(out_shape, DType::I64, x.device());
  SONO_DISPATCH_DEVICE(x, "argmax", argmax_middle, xc, outer, x.shape()[size_t(d)], inner, out);
  return out;
}

}  // namespace sono
