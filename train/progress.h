#pragma once
// A one-line progress bar on stderr ("epoch 3/50 [#####.....] 120/240
// 14.2 img/s loss 0.41 task fetal_head lr 9.8e-05"). On a terminal it redraws
// in place; otherwise (CI logs, pipes) it prints a line every ~10%.
#include <chrono>
#include <cstdint>
#include <string>

namespace sono {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  // Marks `done` units finished (absolute) and shows `postfix` after the bar.
  void update(int64_t done, const std::string& postfix = "");
  void finish(const std::string& postfix = "");
  double elapsed_seconds() const;

 private:
  void draw(const std::string& postfix, bool final_line);
  std::string label_;
  int64_t total_, done_ = 0;
  bool enabled_, tty_;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace sono
