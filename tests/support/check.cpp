#include "tests/support/check.h"

#include <cmath>
#include <random>
#include <sstream>

namespace sono::test {

Tensor randn(const Shape& shape, uint64_t seed, DType dtype, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(0.0, scale);
  std::vector<double> v(size_t(shape_numel(shape)));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape).to(dtype);
}

Tensor rand_uniform(const Shape& shape, double lo, double hi, uint64_t seed, DType dtype) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(size_t(shape_numel(shape)));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape).to(dtype);
}

Tensor rand_int(const Shape& shape, int64_t lo, int64_t hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> dist(lo, hi - 1);
  std::vector<int64_t> v(size_t(shape_numel(shape)));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape);
}

std::vector<double> values(const Tensor& t) {
  NoGradGuard ng;
  return t.detach().to(Device::cpu()).to(DType::F64).contiguous().to_vector<double>();
}

CheckResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol) {
  CheckResult r;
  if (!actual.defined() || !expected.defined()) {
    r.ok = false;
    r.report = "undefined tensor: actual " + describe(actual) + ", expected " + describe(expected);
    return r;
  }
  if (actual.shape() != expected.shape()) {
    r.ok = false;
    r.report = "shape mismatch: actual " + actual.describe() + ", expected " + expected.describe();
    return r;
  }
  auto a = values(actual), e = values(expected);
  double max_abs = 0, max_rel = 0;
  size_t worst = 0, bad = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(a[i] - e[i]);
    double limit = tol.atol + tol.rtol * std::fabs(e[i]);
    bool finite = std::isfinite(a[i]) && std::isfinite(e[i]);
    bool pass = finite && d <= limit;
    if (!pass) {
      ++bad;
      double excess = finite ? d - limit : INFINITY;
      if (excess > worst_excess) worst_excess = excess, worst = i;
    }
    if (finite) {
      max_abs = std::max(max_abs, d);
      if (e[i] != 0) max_rel = std::max(max_rel, d / std::fabs(e[i]));
    }
  }
  r.ok = bad == 0;
  std::ostringstream os;
  os.precision(10);
  os << actual.describe() << ": max abs err " << max_abs << ", max rel err " << max_rel;
  if (!r.ok)
    os << "; " << bad << " of " << a.size() << " elements outside rtol " << tol.rtol << " atol " << tol.atol
       << ", worst at flat index " << worst << ": actual " << a[worst] << " expected " << e[worst];
  r.report = os.str();
  return r;
}

CheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opt) {
  CheckResult result;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad() && t.dtype() != DType::F64) {
      result.ok = false;
      result.report = "gradcheck needs f64 inputs, got " + t.describe();
      return result;
    }
  for (const Tensor& t : inputs)
    if (t.defined()) t.reset_grad();

  Tensor out = fn(inputs);
  Tensor weights = randn(out.shape(), opt.seed, out.dtype());
  if (!out.requires_grad()) {
    result.ok = false;
    result.report = "output " + out.describe() + " does not require grad";
    return result;
  }
  out.backward(weights);
  auto w = values(weights);
  auto objective = [&]() {
    NoGradGuard ng;
    auto o = values(fn(inputs));
    double s = 0;
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * w[i];
    return s;
  };

  std::ostringstream os;
  os.precision(10);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    SONO_CHECK(x.is_contiguous() && x.device().is_cpu(), "gradcheck", "inputs must be contiguous cpu tensors");
    Tensor g = x.grad();
    std::vector<double> analytic = g.defined() ? values(g) : std::vector<double>(size_t(x.numel()), 0.0);
    double* p = x.data<double>();
    double max_err = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = p[i];
      p[i] = orig + opt.step;
      double fp = objective();
      p[i] = orig - opt.step;
      double fm = objective();
      p[i] = orig;
      double numeric = (fp - fm) / (2 * opt.step);
      double d = std::fabs(analytic[size_t(i)] - numeric);
      double limit = opt.tol.atol + opt.tol.rtol * std::fabs(numeric);
      if (!(d <= limit) || !std::isfinite(analytic[size_t(i)])) {
        if (result.ok)
          os << "input " << k << " " << x.describe() << ": element " << i << " analytic " << analytic[size_t(i)]
             << " numeric " << numeric << "; ";
        result.ok = false;
      }
      if (std::isfinite(d)) max_err = std::max(max_err, d);
    }
    os << "input " << k << " max |analytic - numeric| " << max_err << (g.defined() ? "" : " (no gradient)") << "; ";
  }
  result.report = os.str();
  return result;
}

}  // namespace sono::test
