#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sono {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);
std::string shape_str(const Shape& s);  // "[2, 3, 4]"
// NumPy broadcasting; throws naming op and both shapes if incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Wraps a possibly negative dim into [0, ndim); throws naming op otherwise.
int normalize_dim(int64_t dim, size_t ndim, const char* op);

}  // namespace sono
