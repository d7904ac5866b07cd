#include "train/progress.h"

#include <unistd.h>

#include <cstdio>

namespace sono {

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total > 0 ? total : 1),
      enabled_(enabled),
      tty_(isatty(2) != 0),
      start_(std::chrono::steady_clock::now()) {}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(int64_t done, const std::string& postfix) {
  done_ = done;
  if (!enabled_) return;
  int decile = int(10 * done_ / total_);
  if (tty_ || decile != last_decile_) {
    last_decile_ = decile;
    draw(postfix, false);
  }
}

void ProgressBar::finish(const std::string& postfix) {
  done_ = total_;
  if (enabled_) draw(postfix, true);
}

void ProgressBar::draw(const std::string& postfix, bool final_line) {
  const int width = 24;
  int filled = int(width * done_ / total_);
  std::string bar(size_t(filled), '#');
  bar.append(size_t(width - filled), '.');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld %.0fs %s%s", tty_ ? "\r\033[K" : "", label_.c_str(), bar.c_str(),
               (long long)done_, (long long)total_, elapsed_seconds(), postfix.c_str(),
               (tty_ && !final_line) ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace sono
