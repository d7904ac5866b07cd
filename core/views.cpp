// Tensor views and copies, and their gradients. Each view op returns a
// tensor that shares storage; when recording, its node maps the gradient
// back to the input's geometry.
#include <numeric>

#include "core/autograd.h"
#include "core/kernels.h"

namespace sono {

namespace {

// Gradient of a pure re-shaping op: reshape back to the input shape.
struct ReshapeBackward final : Node {
  Shape in_shape;
  explicit ReshapeBackward(Shape s) : in_shape(std::move(s)) {}
  const char* name() const override { return "ReshapeBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override { return {g.reshape(in_shape)}; }
};

struct PermuteBackward final : Node {
  std::vector<int64_t> inverse;
  explicit PermuteBackward(std::vector<int64_t> inv) : inverse(std::move(inv)) {}
  const char* name() const override { return "PermuteBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override { return {g.permute(inverse)}; }
};

struct SliceBackward final : Node {
  Shape in_shape;
  int64_t dim, start, end, step;
  SliceBackward(Shape s, int64_t d, int64_t a, int64_t b, int64_t st)
      : in_shape(std::move(s)), dim(d), start(a), end(b), step(st) {}
  const char* name() const override { return "SliceBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override {
    Tensor full = Tensor::zeros(in_shape, g.dtype(), g.device());
    full.slice(dim, start, end, step).copy_(g);
    return {full};
  }
};

struct ExpandBackward final : Node {
  Shape in_shape;
  explicit ExpandBackward(Shape s) : in_shape(std::move(s)) {}
  const char* name() const override { return "ExpandBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override { return {autograd::sum_to(g, in_shape)}; }
};

struct CloneBackward final : Node {
  const char* name() const override { return "CloneBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override { return {g}; }
};

struct ToDTypeBackward final : Node {
  DType in_dtype;
  explicit ToDTypeBackward(DType t) : in_dtype(t) {}
  const char* name() const override { return "ToDTypeBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override { return {g.to(in_dtype)}; }
};

struct ToDeviceBackward final : Node {
  Device in_device;
  explicit ToDeviceBackward(Device d) : in_device(d) {}
  const char* name() const override { return "ToDeviceBackward"; }
  std::vector<Tensor> apply(const Tensor& g) override { return {g.to(in_device)}; }
};

// The node is made only when recorded: inference (no grad) allocates none.
template <class MakeNode>
Tensor maybe_record(Tensor out, const Tensor& in, MakeNode&& make_node) {
  if (autograd::needs_grad({&in})) autograd::record(out, make_node(), {in});
  return out;
}

// Resolves one -1 in a requested shape; checks the element count.
Shape infer_shape(const Shape& requested, int64_t numel, const Tensor& t, const char* op) {
  Shape s = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      SONO_CHECK(infer < 0, op, "only one dimension can be -1 in ", shape_str(requested));
      infer = int64_t(i);
    } else {
      SONO_CHECK(s[i] >= 0, op, "invalid shape ", shape_str(requested));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    SONO_CHECK(known > 0 && numel % known == 0, op, "cannot reshape ", t.describe(), " to ", shape_str(requested));
    s[size_t(infer)] = numel / known;
  }
  SONO_CHECK(shape_numel(s) == numel, op, "cannot reshape ", t.describe(), " to ", shape_str(requested));
  return s;
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  Shape s = infer_shape(shape, numel(), *this, "view");
  SONO_CHECK(is_contiguous(), "view", describe(), " is not contiguous; use reshape");
  return maybe_record(make_view(*this, s, contiguous_strides(s), offset()), *this,
                      [&] { return std::make_shared<ReshapeBackward>(this->shape()); });
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (is_contiguous()) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::flatten(int64_t start_dim) const {
  int d = normalize_dim(start_dim, shape().size(), "flatten");
  Shape s(shape().begin(), shape().begin() + d);
  s.push_back(-1);
  if (numel() == 0) s.back() = 0;
  return reshape(s);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  SONO_CHECK(dims.size() == shape().size(), "permute", "got ", dims.size(), " dims for ", describe());
  Shape s(dims.size()), st(dims.size());
  std::vector<int64_t> inverse(dims.size(), -1);
  for (size_t i = 0; i < dims.size(); ++i) {
    int d = normalize_dim(dims[i], dims.size(), "permute");
    SONO_CHECK(inverse[size_t(d)] < 0, "permute", "repeated dim ", d, " for ", describe());
    inverse[size_t(d)] = int64_t(i);
    s[i] = shape()[size_t(d)];
    st[i] = strides()[size_t(d)];
  }
  return maybe_record(make_view(*this, s, st, offset()), *this,
                      [&] { return std::make_shared<PermuteBackward>(inverse); });
}

Tensor Tensor::slice(int64_t dim, int64_t start, int64_t end, int64_t step) const {
  int d = normalize_dim(dim, shape().size(), "slice");
  const int64_t n = shape()[size_t(d)];
  if (start < 0) start += n;
  if (end < 0) end += n;
  end = std::min(end, n);
  SONO_CHECK(step > 0 && start >= 0 && start <= end, "slice", "invalid range [", start, ", ", end, ") step ", step,
             " on dim ", d, " of ", describe());
  Shape s = shape(), st = strides();
  s[size_t(d)] = (end - start + step - 1) / step;
  st[size_t(d)] *= step;
  Tensor out = make_view(*this, s, st, offset() + start * strides()[size_t(d)]);
  return maybe_record(out, *this, [&] { return std::make_shared<SliceBackward>(shape(), d, start, end, step); });
}

Tensor Tensor::select(int64_t dim, int64_t index) const {
  int d = normalize_dim(dim, shape().size(), "select");
  int64_t n = shape()[size_t(d)];
  SONO_CHECK(index >= -n && index < n, "select", "index ", index, " out of range for dim ", d, " of ", describe());
  if (index < 0) index += n;
  return slice(d, index, index + 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& shape) const {
  SONO_CHECK(shape.size() >= this->shape().size(), "expand", "cannot expand ", describe(), " to ", shape_str(shape));
  Shape target = shape;
  size_t lead = shape.size() - this->shape().size();
  for (size_t i = 0; i < this->shape().size(); ++i) {
    if (target[lead + i] == -1) target[lead + i] = this->shape()[i];
    SONO_CHECK(this->shape()[i] == 1 || this->shape()[i] == target[lead + i], "expand", "cannot expand ", describe(),
               " to ", shape_str(shape));
  }
  Shape st(target.size(), 0);
  for (size_t i = 0; i < this->shape().size(); ++i)
    st[lead + i] = this->shape()[i] == target[lead + i] ? strides()[i] : 0;
  return maybe_record(make_view(*this, target, st, offset()), *this,
                      [&] { return std::make_shared<ExpandBackward>(this->shape()); });
}

Tensor Tensor::unsqueeze(int64_t dim) const {
  int d = normalize_dim(dim, shape().size() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  int64_t stride = size_t(d) < st.size() ? st[size_t(d)] * s[size_t(d)] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return maybe_record(make_view(*this, s, st, offset()), *this,
                      [&] { return std::make_shared<ReshapeBackward>(shape()); });
}

Tensor Tensor::squeeze(int64_t dim) const {
  int d = normalize_dim(dim, shape().size(), "squeeze");
  SONO_CHECK(shape()[size_t(d)] == 1, "squeeze", "dim ", d, " of ", describe(), " is not 1");
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return maybe_record(make_view(*this, s, st, offset()), *this,
                      [&] { return std::make_shared<ReshapeBackward>(shape()); });
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype(), device());
  kernels::copy(out, *this);
  return maybe_record(out, *this, [&] { return std::make_shared<CloneBackward>(); });
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::to(DType t) const {
  if (t == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), t, device());
  kernels::copy(out, *this);
  if (is_floating(t) && is_floating(dtype()))
    return maybe_record(out, *this, [&] { return std::make_shared<ToDTypeBackward>(dtype()); });
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = Tensor::empty(shape(), dtype(), d);
  kernels::copy(out, *this);
  return maybe_record(out, *this, [&] { return std::make_shared<ToDeviceBackward>(device()); });
}

}  // namespace sono
