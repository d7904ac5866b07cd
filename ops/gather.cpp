#include "ops/gather.h"

#include "core/autograd.h"
#include "core/backend.h"
#include "core/device_check.h"

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
// values are judged on their device (core/device_check.h): on a GPU the
// verdict comes with the step's read-back instead of a wait here.
void check_cell_index(const Tensor& idx, const Tensor& contiguous_idx, const Tensor& x, const char* what,
                      int64_t limit) {
  const char* op = "gather_cells";
  SONO_CHECK(idx.defined(), op, what, " is an undefined tensor");
  SONO_CHECK(idx.dtype() == DType::I64 && idx.dim() == 1 && idx.size(0) == x.size(0), op, what, " ", idx.describe(),
             " must be i64 [", x.size(0), "] for input ", x.describe());
  check_same_device(x, idx, op);
  DeviceCheck check = begin_device_check(idx.device(), [op, what, limit, xd = x.describe()](int64_t v, int64_t b) {
    return str_cat(op, ": sample ", b, " has ", what, " index ", v, " outside [0, ", limit, ") for input ", xd);
  });
  SONO_DISPATCH_DEVICE(idx, op, cell_index_check, contiguous_idx, limit, check.id, check.flag);
  end_device_check(idx.device());
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
  Tensor r = rows.defined() ? rows.contiguous() : rows, c = cols.defined() ? cols.contiguous() : cols;
  check_cell_index(rows, r, x, "row", x.size(2));
  check_cell_index(cols, c, x, "col", x.size(3));
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
