#pragma once
// Tests that cannot run here (no reference fixtures, no GPU, no usmini) skip,
// and ctest reports them as skipped, never as passed: skip() prints the
// reason (a doctest MESSAGE, also when the test program is run directly) and
// marks the running test case; tests/support/main.cpp then exits with
// kSkipExitCode when no case failed and at least one skipped, the code that
// tests/CMakeLists.txt gives ctest as SKIP_RETURN_CODE. A failure in the same
// process always wins over a skip: the exit code is then doctest's failure.
//
// Reference fixtures: with SONO_REQUIRE_FIXTURES=1 (tools/test.sh and CI set
// it) a missing fixture is a failure naming the file instead of a skip.
#include <doctest/doctest.h>

#include <string>

namespace sono::test {

constexpr int kSkipExitCode = 77;

// Prints "skipped: <reason>" (at the caller's file and line) and marks the
// current test case as skipped; the caller returns from the test case afterwards.
void skip(const std::string& reason, const char* file = __builtin_FILE(), int line = __builtin_LINE());

// Test cases of this process that called skip() and had no failure.
int skipped_test_cases();

// Test cases this process started (a filter that matched none started none).
int started_test_cases();

// "$SONO_REF_FIXTURES/<relative>" when that file or folder exists. Otherwise
// "" after skip() (or, with SONO_REQUIRE_FIXTURES=1, a failed check) naming
// what is missing and `how_to_make` (the command that writes it).
std::string ref_fixture(const std::string& relative, const std::string& how_to_make,
                        const char* file = __builtin_FILE(), int line = __builtin_LINE());

// For a prerequisite that is not a fixture file (e.g. the reference venv's
// onnxruntime): returns `ok`; when false, skip() naming `missing` (or, with
// SONO_REQUIRE_FIXTURES=1, a failed check) as ref_fixture does.
bool require_or_skip(bool ok, const std::string& missing, const char* file = __builtin_FILE(),
                     int line = __builtin_LINE());

}  // namespace sono::test

// Skips the rest of the test case (printing `reason`) unless `cond` holds.
#define SONO_SKIP_UNLESS(cond, reason) \
  do {                                 \
    if (!(cond)) {                     \
      ::sono::test::skip(reason);      \
      return;                          \
    }                                  \
  } while (0)
