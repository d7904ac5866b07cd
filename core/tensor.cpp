#include "core/tensor.h"

#include "core/autograd.h"
#include "core/host_sync.h"
#include "core/kernels.h"

namespace sono {

TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("Tensor: use of an undefined tensor");
  return *impl_;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) SONO_CHECK(d >= 0, "Tensor::empty", "negative size in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

int64_t Tensor::size(int64_t d) const { return shape()[size_t(normalize_dim(d, shape().size(), "Tensor::size"))]; }

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  int64_t expected = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

std::string Tensor::describe() const {
  std::string s = str_cat(dtype_name(dtype()), shape_str(shape()), " ", device().str());
  if (!impl().name.empty()) s += " '" + impl().name + "'";
  return s;
}

void* Tensor::raw_data() const {
  auto* base = static_cast<char*>(impl().storage->data());
  return base + impl().offset * int64_t(dtype_size(dtype()));
}

double Tensor::item() const {
  SONO_CHECK(numel() == 1, "item", "expected a one-element tensor, got ", describe());
  // A cuda tensor's copy to the host counts its own wait (BlockingCopy).
  if (device().is_cpu() && !in_cpu_kernel()) count_host_sync(HostSync::ReadBack);
  return to(Device::cpu()).to(DType::F64).contiguous().to_vector<double>()[0];
}

Tensor& Tensor::set_requires_grad(bool r) {
  SONO_CHECK(is_leaf(), "set_requires_grad", describe(), " is not a leaf (it has grad_fn ", grad_fn()->name(), ")");
  SONO_CHECK(!r || is_floating(dtype()), "set_requires_grad", "only float tensors can require grad, got ", describe());
  impl().requires_grad = r;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) const {
  if (!g.defined()) {
    impl().grad.reset();
    return;
  }
  SONO_CHECK(g.shape() == shape(), "set_grad", "gradient ", g.describe(), " for ", describe());
  impl().grad = g.impl_ptr();
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = this->impl().storage;
  impl->shape = shape();
  impl->strides = strides();
  impl->offset = offset();
  impl->dtype = dtype();
  impl->name = this->impl().name;
  return Tensor(std::move(impl));
}

void Tensor::fill_(double value) const {
  kernels::fill(*this, value);
  storage()->bump_version();
}
void Tensor::copy_(const Tensor& src) const {
  kernels::copy(*this, src);
  storage()->bump_version();
}
void Tensor::add_(const Tensor& src, double alpha) const {
  kernels::axpy(*this, src, alpha);
  storage()->bump_version();
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

void check_defined_nonempty(const Tensor& t, const char* op, const char* what) {
  SONO_CHECK(t.defined(), op, what, " is an undefined tensor");
  SONO_CHECK(t.numel() > 0, op, what, " ", t.describe(), " is empty");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  SONO_CHECK(a.device() == b.device(), op, a.describe(), " and ", b.describe(), " are on different devices");
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  SONO_CHECK(a.dtype() == b.dtype(), op, a.describe(), " and ", b.describe(), " have different dtypes");
}

void check_float(const Tensor& t, const char* op, const char* what) {
  SONO_CHECK(t.dtype() == DType::F32 || t.dtype() == DType::F64, op, what, " ", t.describe(), " must be f32 or f64");
}

void check_real(const Tensor& t, const char* op, const char* what) {
  SONO_CHECK(is_floating(t.dtype()), op, what, " ", t.describe(), " must be f32, f64 or bf16");
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    try {
      size_t pos = 0;
      int i = std::stoi(s.substr(5), &pos);
      if (pos == s.size() - 5 && i >= 0) return cuda(i);
    } catch (const std::exception&) {
    }
  }
  throw Error("device: expected 'cpu', 'cuda' or 'cuda:N', got '" + s + "'");
}

bool cuda_compiled() { return SONO_WITH_CUDA != 0; }

void throw_no_cuda_backend(const std::string& what) {
  throw Error(what +
              ": this build of Sono has no CUDA backend (configure with -DSONO_CUDA=ON on a machine with "
              "nvcc to get one)");
}

}  // namespace sono
