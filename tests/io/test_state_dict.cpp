#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "io/safetensors.h"
#include "io/state_dict.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::nn;

namespace {

std::string error_of(const NamedTensors& targets, const NamedTensors& source, const LoadOptions& o = {}) {
  try {
    copy_state_dict(targets, source, o, "Net");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

NamedTensors fresh_targets() {
  return {{"w", Tensor::zeros({2, 3})}, {"b", Tensor::zeros({3})}, {"n", Tensor::zeros({}, DType::I64)}};
}

Tensor with_value_at(Tensor t, int64_t i, double v) {
  std::vector<double> x = test::values(t);
  x[size_t(i)] = v;
  return Tensor::from_vector(x, t.shape()).to(t.dtype());
}

}  // namespace

TEST_CASE("copy_state_dict: copies matching tensors in place and reports the rest") {
  NamedTensors targets = fresh_targets();
  Tensor w = targets[0].second;
  NamedTensors src = {{"w", test::randn({2, 3}, 1, DType::F32)}, {"extra", Tensor::zeros({1})}};
  LoadOptions o;
  o.strict = false;
  LoadReport r = copy_state_dict(targets, src, o, "Net");
  CHECK(r.loaded == 1);
  CHECK(r.missing == std::vector<std::string>{"b", "n"});
  CHECK(r.unexpected == std::vector<std::string>{"extra"});
  CHECK(test::values(w) == test::values(src[0].second));
  CHECK(error_of(fresh_targets(), src).find("load_state_dict: state dict into Net: 2 missing: [b, n]") !=
        std::string::npos);
}

TEST_CASE("copy_state_dict: NaN or infinite weights are refused naming the tensor, nothing is written") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (DType dt : {DType::F32, DType::F64, DType::BF16}) {
    INFO(dtype_name(dt));
    NamedTensors targets = {
        {"w", Tensor::zeros({2, 3}, dt)}, {"b", Tensor::zeros({3}, dt)}, {"n", Tensor::zeros({}, DType::I64)}};
    NamedTensors src = {{"w", with_value_at(Tensor::full({2, 3}, 1.0, dt), 4, nan)},
                        {"b", with_value_at(with_value_at(Tensor::full({3}, 1.0, dt), 1, -inf), 2, nan)},
                        {"n", Tensor::scalar(7, DType::I64)}};
    const std::string msg = error_of(targets, src);
    CAPTURE(msg);
    CHECK(msg.find("2 with NaN or infinite values") != std::string::npos);
    CHECK(msg.find("w: 1 of 6 values NaN or infinite, the first at element 4") != std::string::npos);
    CHECK(msg.find("b: 2 of 3 values NaN or infinite, the first at element 1") != std::string::npos);
    CHECK(test::values(targets[0].second) == std::vector<double>(6, 0.0));  // validated before any copy
    CHECK(targets[2].second.item() == 0);
  }
}

TEST_CASE("copy_state_dict: a NaN weight in a safetensors file is refused naming the file and the tensor") {
  const std::string path =
      (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_nan.safetensors")).string();
  write_safetensors(path, {{"w", with_value_at(Tensor::full({2, 3}, 0.5), 0, std::nan(""))},
                           {"b", Tensor::full({3}, 0.5)},
                           {"n", Tensor::scalar(1, DType::I64)}});
  LoadOptions o;
  o.source = path;
  NamedTensors targets = fresh_targets();
  const std::string msg = error_of(targets, read_safetensors(path).tensors, o);
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("w: 1 of 6 values NaN or infinite, the first at element 0") != std::string::npos);
  CHECK(test::values(targets[1].second) == std::vector<double>(3, 0.0));
  std::filesystem::remove(path);
}
