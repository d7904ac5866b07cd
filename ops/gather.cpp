#include "ops/gather.h"

#include "core/autograd.h"
#include "core/backend.h"

namespace sono {

namespace {

struct GatherCellsBackward final : Node {
  Shape x_shape;
  Tensor rows, cols;
  GatherCellsBackward(Shape s, Tensor r, Tensor c) : x_shape(std::move(s)), rows(std::move(r)), cols(std::move(c)) {}
  const char* name() const override { return "GatherCellsBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override {
    Tensor gx = Tensor::zeros(x_shape, g.dtype(), g.device());
    SONO_DISPATCH_DEVICE(g, "gather_cells", gather_cells_backward, g, rows, cols, gx);
    return {gx};
  }
  void release_saved() override { rows = cols = Tensor(); }
};

// idx must be i64 [B] on x's device with every value in [0, limit). The
// values are read on the host (B is small) so that any backend gets checked indices.
void check_cell_index(const Tensor& idx, const Tensor& x, const char* what, int64_t limit) {
  const char* op = "gather_cells";
  SONO_CHECK(idx.defined(), op, what, " is an undefined tensor");
  SONO_CHECK(idx.dtype() == DType::I64 && idx.dim() == 1 && idx.size(0) == x.size(0), op, what, " ", idx.describe(),
             " must be i64 [", x.size(0), "] for input ", x.describe());
  check_same_device(x, idx, op);
  std::vector<int64_t> v = idx.to_vector<int64_t>();
  for (size_t b = 0; b < v.size(); ++b)
    SONO_CHECK(v[b] >= 0 && v[b] < limit, op, "sample ", b, " has ", what, " index ", v[b], " outside [0, ", limit,
               ") for input ", x.describe());
}

struct ConcatBackward final : Node {
  int dim;
  std::vector<int64_t> sizes;
  ConcatBackward(int d, std::vector<int64_t> s) : dim(d), sizes(std::move(s)) {}
  const char* name() const override { return "ConcatBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override {
    std::vector<Tensor> grads;
    int64_t off = 0;
    for (int64_t s : sizes) {
      grads.push_back(g.slice(dim, off, off + s));
      off += s;
    }
    return grads;
  }
};

}  // namespace

Tensor gather_cells(const Tensor& x, const Tensor& rows, const Tensor& cols) {
  const char* op = "gather_cells";
  check_defined_nonempty(x, op, "input");
  check_real(x, op, "input");
  SONO_CHECK(x.dim() == 4, op, "expected an input [B, C, H, W], got ", x.describe());
  check_cell_index(rows, x, "row", x.size(2));
  check_cell_index(cols, x, "col", x.size(3));
  Tensor r = rows.contiguous(), c = cols.contiguous();
  Tensor out = Tensor::empty({x.size(0), x.size(1)}, x.dtype(), x.device());
  SONO_DISPATCH_DEVICE(x, op, gather_cells_forward, x, r, c, out);
  if (autograd::needs_grad({&x}))
    autograd::record(out, std::make_shared<GatherCellsBackward>(x.shape(), saved(r), saved(c)), {x});
  return out;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  const char* op = "concat";
  SONO_CHECK(!xs.empty(), op, "no tensors to concatenate");
  for (size_t i = 0; i < xs.size(); ++i) {
    SONO_CHECK(xs[i].defined(), op, "tensor ", i, " is undefined");
    SONO_CHECK(xs[i].numel() > 0, op, "tensor ", i, " ", xs[i].describe(), " is empty");
  }
  const Tensor& first = xs[0];
  SONO_CHECK(dim >= -first.dim() && dim < first.dim(), op, "dim ", dim, " out of range for ", first.describe());
  const int d = normalize_dim(dim, size_t(first.dim()), op);
  Shape shape = first.shape();
  shape[size_t(d)] = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    check_same_dtype(first, t, op);
    check_same_device(first, t, op);
    bool match = t.dim() == first.dim();
    for (int k = 0; match && k < int(t.dim()); ++k) match = k == d || t.shape()[size_t(k)] == first.shape()[size_t(k)];
    SONO_CHECK(match, op, "tensor ", i, " ", t.describe(), " does not match tensor 0 ", first.describe(),
               " outside dim ", d);
    sizes.push_back(t.size(d));
    shape[size_t(d)] += t.size(d);
  }
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  int64_t off = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    out.slice(d, off, off + sizes[i]).copy_(xs[i]);  // in-place data copy: never recorded
    off += sizes[i];
  }
  if (autograd::needs_grad(xs)) autograd::record(out, std::make_shared<ConcatBackward>(d, sizes), xs);
  return out;
}

}  // namespace sono
