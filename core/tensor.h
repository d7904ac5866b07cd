#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"

namespace sono {

class Node;
class Tensor;

// The state behind a Tensor handle. Views share `storage`; autograd state
// (requires_grad, grad, grad_fn) belongs to this impl only.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;       // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;

  bool requires_grad = false;        // leaves only; non-leaves derive it from grad_fn
  std::shared_ptr<Node> grad_fn;     // null for leaves
  std::shared_ptr<TensorImpl> grad;  // absent (null) until a backward reaches this leaf
  std::weak_ptr<Node> grad_accumulator;
  std::string name;  // optional, used in error messages (e.g. parameter names)
};

// A handle to an n-d array on a device. Copying a Tensor copies the handle
// (shared data), like PyTorch. A default-constructed Tensor is "undefined".
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation -------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32, Device device = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::F32, Device device = Device::cpu());

  // ---- metadata -------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(impl().shape); }
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  // "f32[2, 3, 4] cpu" (+ " 'name'" when named): used in every error message.
  std::string describe() const;
  const std::string& name() const { return impl().name; }
  Tensor& set_name(const std::string& n) {
    impl().name = n;
    return *this;
  }

  // ---- data access ------------------------------------------------------
  void* raw_data() const;  // pointer to the first element (offset applied)
  template <class T>
  T* data() const;  // checks dtype
  template <class T>
  std::vector<T> to_vector() const;  // any layout/device -> host, row-major
  double item() const;               // one-element tensor -> double

  // ---- differentiable views and copies (core/views.cpp) -----------------
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor view(const Shape& shape) const;     // must be a view; throws otherwise
  Tensor flatten(int64_t start_dim = 0) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // slice + drop the dim
  Tensor expand(const Shape& shape) const;          // broadcast view (stride 0)
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor contiguous() const;  // this if already contiguous
  Tensor clone() const;       // always a new contiguous copy
  Tensor to(DType t) const;   // this if same dtype; differentiable between float dtypes
  Tensor to(Device d) const;  // this if same device; differentiable

  // ---- autograd -------------------------------------------------------
  bool requires_grad() const { return impl().requires_grad || impl().grad_fn != nullptr; }
  // Marks a leaf as a parameter to differentiate; throws for non-leaves.
  Tensor& set_requires_grad(bool r);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  // The accumulated gradient of a leaf; undefined when no backward reached it.
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  void reset_grad() const { impl().grad.reset(); }  // "zero_grad(set_to_none=True)"
  // Same data, no autograd history.
  Tensor detach() const;
  // Runs reverse mode from this tensor. grad defaults to 1 for one-element tensors.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  // ---- in-place data ops (never recorded by autograd) --------------------
  void fill_(double value) const;
  void copy_(const Tensor& src) const;                     // same shape; any dtype/device/layout
  void add_(const Tensor& src, double alpha = 1.0) const;  // this += alpha * src, same shape

  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Makes a tensor viewing `base`'s storage with new geometry; no autograd.
Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

// Convenience for error messages: "describe(a) and describe(b)".
inline std::string describe(const Tensor& t) { return t.defined() ? t.describe() : "undefined tensor"; }

// Checks shared by ops: defined, non-empty, device and dtype expectations.
void check_defined_nonempty(const Tensor& t, const char* op, const char* what);
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);
void check_float(const Tensor& t, const char* op, const char* what);
// f32, f64 or bf16 (the float kernels that take bf16 storage, docs/precision.md).
void check_real(const Tensor& t, const char* op, const char* what);

}  // namespace sono

#include "core/tensor_inl.h"
