#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "io/safetensors.h"
#include "layers/conv.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "layers/norm.h"
#include "tests/support/check.h"

using namespace sono;
using namespace sono::nn;

namespace {
// conv (weight, bias) + bn (weight, bias, running_mean, running_var, num_batches_tracked)
struct Net : Module {
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<BatchNorm2d> bn;
  Net() : Module("Net") {
    conv = register_module("conv", std::make_shared<Conv2d>(2, 3, 3));
    bn = register_module("bn", std::make_shared<BatchNorm2d>(3));
  }
};

NamedTensors random_state(const Net& net, uint64_t seed) {
  NamedTensors out;
  for (const auto& kv : net.state_dict()) {
    Tensor t = kv.second.dtype() == DType::I64 ? Tensor::scalar(double(seed), DType::I64)
                                               : test::randn(kv.second.shape(), seed++, DType::F32);
    out.emplace_back(kv.first, t);
  }
  return out;
}

std::string error_of(Module& m, const NamedTensors& t, LoadOptions o = {}) {
  try {
    load_state_dict(m, t, o);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string temp_file(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_" + name)).string();
}
}  // namespace

TEST_CASE("load_state_dict: copies values in place into the existing tensors") {
  Net net;
  Tensor w = net.conv->weight();
  NamedTensors src = random_state(net, 11);
  LoadReport r = load_state_dict(net, src);
  CHECK(r.loaded == 7);
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  CHECK(net.conv->weight().same(w));  // same tensor, new values
  CHECK(w.requires_grad());
  CHECK(w.is_leaf());
  for (size_t i = 0; i < src.size(); ++i)
    CHECK(test::values(net.state_dict()[i].second) == test::values(src[i].second));
  // the source is copied, not aliased
  src[0].second.fill_(0.0);
  CHECK(test::values(w) != test::values(src[0].second));
}

TEST_CASE("load_state_dict: one error lists every missing, unexpected and mis-shaped / wrong-dtype key") {
  Net net;
  const auto before = test::values(net.conv->weight());
  NamedTensors src = random_state(net, 3);
  src.erase(src.begin() + 1);                                // conv.bias missing
  src.erase(src.begin() + 4);                                // bn.running_var missing
  src[0].second = test::randn({3, 2, 5, 5}, 9, DType::F32);  // conv.weight mis-shaped
  src[1].second = test::randn({3}, 9, DType::F64);           // bn.weight wrong dtype
  src.back().second = Tensor::scalar(1.0, DType::F32);       // num_batches_tracked f32
  src.emplace_back("extra.weight", Tensor::zeros({1}));
  src.emplace_back("bn.extra", Tensor::zeros({1}));
  const std::string msg = error_of(net, src);
  CAPTURE(msg);
  CHECK(msg.find("load_state_dict") != std::string::npos);
  CHECK(msg.find("2 missing: [conv.bias, bn.running_var]") != std::string::npos);
  CHECK(msg.find("2 unexpected: [extra.weight, bn.extra]") != std::string::npos);
  CHECK(msg.find("3 mis-shaped or wrong dtype") != std::string::npos);
  CHECK(msg.find("conv.weight: source f32[3, 2, 5, 5] vs model f32[3, 2, 3, 3]") != std::string::npos);
  CHECK(msg.find("bn.weight: source f64[3] vs model f32[3]") != std::string::npos);
  CHECK(msg.find("bn.num_batches_tracked: source f32[] vs model i64[]") != std::string::npos);
  CHECK(test::values(net.conv->weight()) == before);  // nothing was written
}

TEST_CASE("load_state_dict: non-strict reports missing/unexpected, still rejects bad shapes") {
  Net net;
  NamedTensors src = random_state(net, 5);
  src.erase(src.begin());
  src.emplace_back("other", Tensor::zeros({1}));
  LoadOptions o;
  o.strict = false;
  LoadReport r = load_state_dict(net, src, o);
  CHECK(r.missing == std::vector<std::string>{"conv.weight"});
  CHECK(r.unexpected == std::vector<std::string>{"other"});
  CHECK(r.loaded == 6);
  src[0].second = Tensor::zeros({4});
  CHECK(error_of(net, src, o).find("conv.bias: source f32[4] vs model f32[3]") != std::string::npos);
}

TEST_CASE("load_state_dict: float conversion only when allowed, duplicates rejected") {
  Net net;
  NamedTensors src = random_state(net, 6);
  for (auto& kv : src)
    if (kv.second.dtype() == DType::F32) kv.second = kv.second.to(DType::F64);
  CHECK(error_of(net, src).find("6 mis-shaped or wrong dtype") != std::string::npos);
  LoadOptions o;
  o.allow_float_conversion = true;
  load_state_dict(net, src, o);
  CHECK(net.conv->weight().dtype() == DType::F32);
  CHECK_CLOSE(net.conv->weight(), src[0].second, test::Tolerance{1e-7, 0});
  src.push_back(src[0]);
  CHECK(error_of(net, src, o).find("1 given more than once: [conv.weight]") != std::string::npos);
}

TEST_CASE("load_state_dict: safetensors round trip of a module, error names the file") {
  Net a, b;
  load_state_dict(a, random_state(a, 21));
  const std::string path = temp_file("net.safetensors");
  save_safetensors(a, path, {{"format", "pt"}});
  load_safetensors(b, path);
  for (size_t i = 0; i < a.state_dict().size(); ++i) {
    CHECK(a.state_dict()[i].first == b.state_dict()[i].first);
    CHECK(test::values(a.state_dict()[i].second) == test::values(b.state_dict()[i].second));
  }
  CHECK(b.bn->num_batches_tracked().dtype() == DType::I64);
  Linear other(2, 2);
  try {
    load_safetensors(other, path);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find(path) != std::string::npos);
    CHECK(std::string(e.what()).find("2 missing: [weight, bias]") != std::string::npos);
  }
  std::filesystem::remove(path);
}

TEST_CASE("load_state_dict: a module file with a NaN weight is refused naming the file and the tensor") {
  Net a, b;
  NamedTensors state = random_state(a, 31);
  std::vector<float> w = state[0].second.to_vector<float>();
  w[5] = std::nanf("");
  state[0].second = Tensor::from_vector(w, state[0].second.shape());
  const std::string path = temp_file("nan.safetensors");
  write_safetensors(path, state);
  const auto before = test::values(b.conv->weight());
  try {
    load_safetensors(b, path);
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CAPTURE(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("conv.weight: 1 of 54 values NaN or infinite, the first at element 5") != std::string::npos);
  }
  CHECK(test::values(b.conv->weight()) == before);
  std::filesystem::remove(path);
}
