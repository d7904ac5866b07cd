// doctest's main, plus the skip exit code of tests/support/skip.h: ctest
// counts a test case that skipped as skipped (SKIP_RETURN_CODE), one that
// failed as failed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "tests/support/skip.h"

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int rc = context.run();
  if (context.shouldExit() || rc != 0) return rc;
  const int skipped = sono::test::skipped_test_cases();
  if (skipped == 0) return 0;
  std::cout << "[sono] " << skipped << " test case" << (skipped == 1 ? "" : "s")
            << " skipped (reasons above); exit code " << sono::test::kSkipExitCode << "\n";
  return sono::test::kSkipExitCode;
}
