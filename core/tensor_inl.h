#pragma once
// Template members of Tensor.

namespace sono {

template <class T>
T* Tensor::data() const {
  SONO_CHECK(dtype() == dtype_of<T>::value, "Tensor::data", "requested ", dtype_name(dtype_of<T>::value), " from ",
             describe());
  return static_cast<T*>(raw_data());
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  SONO_CHECK(int64_t(values.size()) == shape_numel(shape), "Tensor::from_vector", values.size(), " values for shape ",
             shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>::value, Device::cpu());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return device.is_cpu() ? t : t.to(device);
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).contiguous();
  SONO_CHECK(c.dtype() == dtype_of<T>::value, "Tensor::to_vector", "requested ", dtype_name(dtype_of<T>::value),
             " from ", describe());
  std::vector<T> out(size_t(c.numel()));
  if (!out.empty()) std::memcpy(out.data(), c.raw_data(), out.size() * sizeof(T));
  return out;
}

}  // namespace sono
