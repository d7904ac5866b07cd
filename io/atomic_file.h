#pragma once
// Replacing a file all at once or not at all, with every step checked.
//
//   AtomicFile out("runs/b4/best.safetensors");  // creates runs/b4/best.safetensors.tmp-XXXXXX
//   out.write(header.data(), header.size());      // each write checked (short writes retried)
//   out.write(data, n);
//   out.commit();                                 // fsync, close, rename over the target, fsync the folder
//
// Until commit() returns, the target is untouched: readers see the old file or
// the complete new one, never a partial one, even after a crash. Any failure
// (the folder is missing or read-only, the disk is full, fsync or close
// reports an I/O error, ...) throws sono::Error whose message starts with
// "cannot write <target>: " and removes the temporary file; so does
// destroying an AtomicFile that was not committed (an exception on the way).
//
// The target must be a regular file or not exist: a device, folder, FIFO,
// socket or symbolic link is refused before anything is written (rename would
// replace the device node /dev/full, or the link instead of what it points to).
// The new file gets the permissions a plain open() would give (0666 & ~umask).
// Not for concurrent writers of one target: the last commit wins.
#include <cstddef>
#include <string>

namespace sono::nn {

class AtomicFile {
 public:
  explicit AtomicFile(std::string target);
  ~AtomicFile();  // not committed: closes and removes the temporary file, never throws
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  // Makes the written bytes the target's content. Once only; no write after it.
  void commit();

  const std::string& target() const { return target_; }
  const std::string& temporary() const { return temporary_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);  // removes the temporary, throws
  void discard() noexcept;

  std::string target_;
  std::string temporary_;
  int fd_ = -1;
  bool committed_ = false;
};

// AtomicFile(path), one write of `bytes`, commit.
void write_file_atomically(const std::string& path, const std::string& bytes);

}  // namespace sono::nn
