#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace sono {

// Every error Sono raises. The message starts with the op (or file) that
// failed and names the shapes, dtypes and devices involved.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void format_into(std::ostringstream&) {}
template <class T, class... Rest>
void format_into(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  format_into(os, rest...);
}
}  // namespace detail

template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  detail::format_into(os, args...);
  return os.str();
}

}  // namespace sono

// SONO_CHECK(cond, "conv2d", "input ", describe(x), " ...") throws
// sono::Error("conv2d: input f32[2,3] cpu ...") when cond is false.
#define SONO_CHECK(cond, op, ...)                                             \
  do {                                                                        \
    if (!(cond)) throw ::sono::Error(::sono::str_cat(op, ": ", __VA_ARGS__)); \
  } while (0)
