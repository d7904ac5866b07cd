// core/profile.h: off by default and then records nothing; on, every kernel
// call is an entry named after its backend function, and nested scopes count
// exclusive time (a parent's entry leaves out its children's).
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "core/profile.h"
#include "core/tensor.h"

using namespace sono;

namespace {

const profile::Entry* find(const std::vector<profile::Entry>& es, const std::string& name) {
  for (const auto& e : es)
    if (e.name == name) return &e;
  return nullptr;
}

void busy(double ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(ms);
  while (std::chrono::steady_clock::now() < end) {
  }
}

}  // namespace

TEST_CASE("profile: off records nothing, on names each kernel call, nested scopes count exclusive time") {
  REQUIRE_FALSE(profile::enabled());
  profile::reset();
  const Tensor x = Tensor::full({64}, 2.0);
  x.clone();  // the copy kernel, profiler off
  CHECK(profile::entries().empty());

  profile::set_enabled(true);
  x.clone();
  x.clone();
  {
    const profile::Scope outer("outer");
    busy(20);
    profile::set_detail("inner detail");
    const profile::Scope inner("inner");
    busy(20);
  }
  profile::set_enabled(false);
  x.clone();  // off again: not counted
  const auto es = profile::entries();
  const profile::Entry* copy = find(es, "copy");
  REQUIRE(copy != nullptr);
  CHECK(copy->calls == 2);
  const profile::Entry* outer = find(es, "outer");
  const profile::Entry* inner = find(es, "inner inner detail");
  REQUIRE(outer != nullptr);
  REQUIRE(inner != nullptr);
  CHECK(inner->seconds >= 0.019);
  CHECK(outer->seconds >= 0.019);
  CHECK(outer->seconds < 0.035);  // the inner 20 ms are not the outer's
  profile::reset();
  CHECK(profile::entries().empty());
}
