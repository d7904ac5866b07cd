// doctest's main, plus the skip exit code of tests/support/skip.h: ctest
// counts a test case that skipped as skipped (SKIP_RETURN_CODE), one that
// failed as failed. A run that executed no test case at all fails: ctest runs
// each case by name, and a name it cannot pass intact (CMake splits lists at
// ';') would otherwise select nothing and pass with no assertion.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <iostream>

#include "tests/support/skip.h"

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int rc = context.run();
  if (context.shouldExit() || rc != 0) return rc;
  if (sono::test::started_test_cases() == 0) {
    std::cerr << "[sono] no test case ran: the filter matched none (a test name with ';' cannot be selected "
                 "by ctest)\n";
    return 1;
  }
  const int skipped = sono::test::skipped_test_cases();
  if (skipped == 0) return 0;
  std::cout << "[sono] " << skipped << " test case" << (skipped == 1 ? "" : "s")
            << " skipped (reasons above); exit code " << sono::test::kSkipExitCode << "\n";
  return sono::test::kSkipExitCode;
}
