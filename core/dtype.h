#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "core/error.h"
#include "core/macros.h"

namespace sono {

enum class DType : uint8_t { F32, F64, BF16, I64, I32, U8 };

// bfloat16 as raw bits. Conversion rounds to nearest even, like PyTorch, so a
// bf16 tensor written by Sono reads back bit-identical in PyTorch.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  SONO_HD explicit BFloat16(float f) : bits(from_float(f)) {}
  SONO_HD operator float() const { return to_float(bits); }

  SONO_HD static uint16_t from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return uint16_t((u >> 16) | 0x40);  // quiet NaN
    uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
    return uint16_t((u + rounding_bias) >> 16);
  }
  SONO_HD static float to_float(uint16_t b) {
    uint32_t u = uint32_t(b) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
};

// Value conversion between the six dtypes, shared by both backends: a
// static_cast, except that bf16 converts through float.
template <class To, class From>
SONO_HD To scalar_cast(From v) {
  if constexpr (std::is_same_v<To, BFloat16>) return BFloat16(float(v));
  else if constexpr (std::is_same_v<From, BFloat16>) return To(float(v));
  else return static_cast<To>(v);
}

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::BF16: return 2;
    case DType::I64: return 8;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F64: return "f64";
    case DType::BF16: return "bf16";
    case DType::I64: return "i64";
    case DType::I32: return "i32";
    case DType::U8: return "u8";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::F32 || t == DType::F64 || t == DType::BF16; }

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::F32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::F64;
};
template <>
struct dtype_of<BFloat16> {
  static constexpr DType value = DType::BF16;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::I64;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::I32;
};
template <>
struct dtype_of<uint8_t> {
  static constexpr DType value = DType::U8;
};

// Kernel instantiation over dtypes: dispatch_float(dt, "op", [&](auto tag) {
//   using scalar_t = SONO_TYPE(tag); ... }) calls the lambda with the C++
// type of dt (a function, not a macro, so OpenMP pragmas work inside).
template <class T>
struct type_tag {
  using type = T;
};
#define SONO_TYPE(tag) typename decltype(tag)::type

template <class F>
decltype(auto) dispatch_all(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: return f(type_tag<float>{});
    case DType::F64: return f(type_tag<double>{});
    case DType::BF16: return f(type_tag<BFloat16>{});
    case DType::I64: return f(type_tag<int64_t>{});
    case DType::I32: return f(type_tag<int32_t>{});
    case DType::U8: return f(type_tag<uint8_t>{});
  }
  throw Error(std::string(op) + ": unsupported dtype");
}

// Float kernels: f32 for training, f64 for gradient checks.
template <class F>
decltype(auto) dispatch_float(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: return f(type_tag<float>{});
    case DType::F64: return f(type_tag<double>{});
    default: break;
  }
  throw Error(std::string(op) + ": expected dtype f32 or f64, got " + dtype_name(t));
}

// The type a kernel computes in for a storage type: bf16 values are loaded
// widened to float and stored rounded to nearest even (scalar_cast), so bf16
// and f32 kernels share one body and one ops/math.h formula.
template <class T>
struct compute_type {
  using type = T;
};
template <>
struct compute_type<BFloat16> {
  using type = float;
};
template <class T>
using compute_t = typename compute_type<T>::type;

// Float kernels that also take bf16 storage (the mixed-precision ops of
// docs/precision.md): f32, f64 and bf16.
template <class F>
decltype(auto) dispatch_real(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32: return f(type_tag<float>{});
    case DType::F64: return f(type_tag<double>{});
    case DType::BF16: return f(type_tag<BFloat16>{});
    default: break;
  }
  throw Error(std::string(op) + ": expected dtype f32, f64 or bf16, got " + dtype_name(t));
}

}  // namespace sono
