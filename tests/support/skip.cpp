#include "tests/support/skip.h"

#include <cstdlib>
#include <filesystem>

namespace sono::test {
namespace {

bool current_skipped = false;
int skipped_cases = 0;
int started_cases = 0;

// Resets the mark per test case and counts the cases that skipped without
// failing; a case that failed counts as failed only.
struct SkipListener : doctest::IReporter {
  explicit SkipListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override {
    current_skipped = false;
    ++started_cases;
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& st) override {
    if (current_skipped && st.testCaseSuccess) ++skipped_cases;
  }
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

bool fixtures_required() {
  const char* v = std::getenv("SONO_REQUIRE_FIXTURES");
  return v && std::string(v) == "1";
}

}  // namespace

DOCTEST_REGISTER_LISTENER("sono_skip", 1, SkipListener);

void skip(const std::string& reason, const char* file, int line) {
  ADD_MESSAGE_AT(file, line, "skipped: " << reason);
  current_skipped = true;
}

int skipped_test_cases() { return skipped_cases; }

int started_test_cases() { return started_cases; }

std::string ref_fixture(const std::string& relative, const std::string& how_to_make, const char* file, int line) {
  const char* root = std::getenv("SONO_REF_FIXTURES");
  std::string missing;
  if (root == nullptr || *root == '\0') {
    missing = "SONO_REF_FIXTURES is not set (needed: SONO_REF_FIXTURES/" + relative + ")";
  } else {
    const std::string path = std::string(root) + "/" + relative;
    if (std::filesystem::exists(path)) return path;
    missing = "no " + path;
  }
  missing += "; " + how_to_make + " makes it";
  if (fixtures_required())
    ADD_FAIL_CHECK_AT(file, line,
                      "missing reference fixture: " << missing << " (SONO_REQUIRE_FIXTURES=1 requires every fixture)");
  else skip(missing, file, line);
  return "";
}

bool require_or_skip(bool ok, const std::string& missing, const char* file, int line) {
  if (ok) return true;
  if (fixtures_required())
    ADD_FAIL_CHECK_AT(file, line, "missing prerequisite: " << missing << " (SONO_REQUIRE_FIXTURES=1 requires it)");
  else skip(missing, file, line);
  return false;
}

}  // namespace sono::test
