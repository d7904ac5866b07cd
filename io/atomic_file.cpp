#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace sono::nn {

namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// "" when `path` is absent or a regular file, else what it is.
std::string non_regular(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return "";
  return kind_of(st.st_mode);
}

}  // namespace

AtomicFile::AtomicFile(std::string target) : target_(std::move(target)) {
  if (target_.empty() || target_.back() == '/') fail("not a file name", 0);
  const std::string kind = non_regular(target_);
  if (!kind.empty()) fail("it exists and is " + kind + ", not a regular file: refusing to replace it", 0);
  temporary_ = target_ + ".tmp-XXXXXX";
  fd_ = ::mkstemp(temporary_.data());
  if (fd_ < 0) {
    const int err = errno;
    temporary_.clear();  // nothing was created
    fail("cannot create a temporary file in " + directory_of(target_), err);
  }
  // mkstemp creates the file 0600; give it the mode a plain open() would.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd_, 0666 & ~mask) != 0) fail("fchmod of the temporary file failed", errno);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temporary_.empty()) ::unlink(temporary_.c_str());
  temporary_.clear();
}

void AtomicFile::fail(const std::string& what, int err) {
  discard();
  throw Error(str_cat("cannot write ", target_, ": ", what, err ? std::string(": ") + std::strerror(err) : ""));
}

void AtomicFile::write(const void* data, size_t size) {
  if (committed_ || fd_ < 0) fail("write after commit or after a failure", 0);
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t w = ::write(fd_, p, size);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail("write failed", errno);
    if (w == 0) fail("write wrote nothing", ENOSPC);
    p += w;
    size -= size_t(w);
  }
}

void AtomicFile::commit() {
  if (committed_ || fd_ < 0) fail("commit after commit or after a failure", 0);
  if (::fsync(fd_) != 0) fail("fsync failed", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("close failed", errno);
  // The target may have been replaced by something else since the constructor looked.
  const std::string kind = non_regular(target_);
  if (!kind.empty()) fail("it is now " + kind + ", not a regular file: refusing to replace it", 0);
  if (::rename(temporary_.c_str(), target_.c_str()) != 0) fail("rename of the temporary file failed", errno);
  committed_ = true;
  temporary_.clear();
  // Makes the rename itself durable. Best effort: the new content is in place
  // already, and some file systems cannot fsync a directory.
  const int dfd = ::open(directory_of(target_).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  AtomicFile out(path);
  out.write(bytes);
  out.commit();
}

}  // namespace sono::nn
