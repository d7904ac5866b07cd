#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "tests/io/io_test_util.h"

using namespace sono;
using namespace sono::nn;
using sono::test::read_all;
using sono::test::TempDir;
namespace fs = std::filesystem;

namespace {

bool is_char_device(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

// The error of fn(), "" when it does not throw.
template <class F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

NamedTensors small_tensors() { return {{"a", Tensor::full({4}, 1.5)}}; }

}  // namespace

TEST_CASE("atomic_file: a write lands whole, replaces the old content and leaves no temporary file") {
  TempDir dir;
  const std::string p = dir.file("out.bin");
  write_file_atomically(p, "first");
  write_file_atomically(p, "second, longer");
  CHECK(read_all(p) == "second, longer");
  write_safetensors(dir.file("w.safetensors"), small_tensors());
  write_safetensors(dir.file("w.safetensors"), small_tensors());
  CHECK(dir.names() == std::vector<std::string>{"out.bin", "w.safetensors"});
  // the mode a plain open() gives
  const mode_t mask = ::umask(0);
  ::umask(mask);
  CHECK((fs::status(p).permissions() & fs::perms::all) == fs::perms(0666 & ~mask));
}

TEST_CASE("atomic_file: not committed, nothing changes") {
  TempDir dir;
  const std::string p = dir.file("keep.bin");
  write_file_atomically(p, "old");
  {
    AtomicFile f(p);
    f.write("new content");
    CHECK(fs::exists(f.temporary()));
  }  // e.g. an exception before commit
  CHECK(read_all(p) == "old");
  CHECK(dir.names() == std::vector<std::string>{"keep.bin"});
}

TEST_CASE("atomic_file: writing to /dev/full fails naming it and leaves the device node alone") {
  REQUIRE(is_char_device("/dev/full"));
  std::string msg = error_of([] { write_safetensors("/dev/full", small_tensors()); });
  CAPTURE(msg);
  CHECK(msg.find("cannot write /dev/full") != std::string::npos);
  CHECK(msg.find("character device") != std::string::npos);
  msg = error_of([] { write_file_atomically("/dev/full", "x"); });
  CHECK(msg.find("/dev/full") != std::string::npos);
  CHECK(is_char_device("/dev/full"));
  for (const auto& e : fs::directory_iterator("/dev"))
    CHECK_MESSAGE(e.path().filename().string().rfind("full.tmp-", 0) != 0, e.path());
}

TEST_CASE("atomic_file: a device node, directory or symbolic link is never replaced") {
  TempDir dir;
  // A node of the same device as /dev/full (root only): the old writer renamed over it.
  const std::string node = dir.file("full");
  if (::mknod(node.c_str(), S_IFCHR | 0666, makedev(1, 7)) == 0) {
    const std::string msg = error_of([&] { write_safetensors(node, small_tensors()); });
    CHECK(msg.find("cannot write " + node) != std::string::npos);
    CHECK(is_char_device(node));
  } else {
    MESSAGE("skipped the mknod'ed device node: not allowed here (not root); /dev/full is checked above");
  }
  const std::string sub = dir.file("sub");
  fs::create_directory(sub);
  std::string msg = error_of([&] { write_safetensors(sub, small_tensors()); });
  CHECK(msg.find("cannot write " + sub + ": it exists and is a directory") != std::string::npos);
  CHECK(fs::is_directory(sub));
  write_file_atomically(dir.file("real"), "real");
  fs::create_symlink(dir.file("real"), dir.file("link"));
  msg = error_of([&] { write_file_atomically(dir.file("link"), "x"); });
  CHECK(msg.find("symbolic link") != std::string::npos);
  CHECK(fs::is_symlink(dir.file("link")));
  CHECK(read_all(dir.file("real")) == "real");
  std::vector<std::string> want = {"link", "real", "sub"};
  if (is_char_device(node)) want.insert(want.begin(), "full");
  CHECK(dir.names() == want);
}

TEST_CASE("atomic_file: a missing or read-only directory fails naming the file") {
  TempDir dir;
  const std::string missing = dir.file("no_such_dir/x.safetensors");
  std::string msg = error_of([&] { write_safetensors(missing, small_tensors()); });
  CAPTURE(msg);
  CHECK(msg.find("cannot write " + missing + ": cannot create a temporary file") != std::string::npos);
  CHECK(msg.find("No such file or directory") != std::string::npos);

  // root ignores permission bits, but not sysfs.
  std::string read_only;
  if (::geteuid() == 0) {
    read_only = "/sys/sono_atomic_file_test.bin";
  } else {
    fs::create_directory(dir.file("ro"));
    fs::permissions(dir.file("ro"), fs::perms(0555));
    read_only = dir.file("ro/x.bin");
  }
  msg = error_of([&] { write_file_atomically(read_only, "x"); });
  CHECK(msg.find("cannot write " + read_only + ": cannot create a temporary file") != std::string::npos);
  CHECK(!fs::exists(read_only));
  CHECK(dir.names() == std::vector<std::string>(::geteuid() == 0 ? 0 : 1, "ro"));
}

TEST_CASE("atomic_file: a write error part way (file size limit) fails naming the file, old content kept") {
  TempDir dir;
  const std::string p = dir.file("big.safetensors");
  write_file_atomically(p, "old");
  struct rlimit old_limit;
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the signal
  struct rlimit small = old_limit;
  small.rlim_cur = 64 * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  const std::string msg = error_of([&] { write_safetensors(p, {{"big", Tensor::zeros({1 << 16})}}); });  // 256 KiB
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  CAPTURE(msg);
  CHECK(msg.find("cannot write " + p + ": write failed: File too large") != std::string::npos);
  CHECK(read_all(p) == "old");
  CHECK(dir.names() == std::vector<std::string>{"big.safetensors"});
}

TEST_CASE("atomic_file: misuse is an error naming the file") {
  TempDir dir;
  AtomicFile f(dir.file("once.bin"));
  f.write("x");
  f.commit();
  CHECK(error_of([&] { f.write("y"); }).find("cannot write " + dir.file("once.bin")) != std::string::npos);
  CHECK(error_of([&] { f.commit(); }).find("commit after commit") != std::string::npos);
  CHECK(read_all(dir.file("once.bin")) == "x");
  CHECK(error_of([] { write_file_atomically("", "x"); }).find("not a file name") != std::string::npos);
}
