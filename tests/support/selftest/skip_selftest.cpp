// Cases for the checks of tests/support/skip.h in tests/CMakeLists.txt: each
// check runs this program with a filter and compares its exit code (0 passed,
// 77 skipped, 1 failed). Some cases fail on purpose; this program is never run
// unfiltered.
#include <doctest/doctest.h>

#include "tests/support/skip.h"

TEST_CASE("passes") { CHECK(1 + 1 == 2); }

TEST_CASE("skips") {
  SONO_SKIP_UNLESS(1 + 1 == 3, "selftest: the condition does not hold");
  FAIL("unreachable after a skip");
}

TEST_CASE("skips then fails") {
  sono::test::skip("selftest: a skip does not hide a failure");
  CHECK(1 + 1 == 3);
}

TEST_CASE("needs a missing fixture") {
  const std::string path = sono::test::ref_fixture("selftest/no_such_file", "nothing");
  if (path.empty()) return;
  FAIL("found a file that should not exist: " << path);
}
