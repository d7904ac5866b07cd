#pragma once
// SIGINT/SIGTERM during `sono train`: the first asks the training loop to stop
// after the current step (it then checkpoints, logs a `stop` record and
// finishes); a second one ends the process at once (exit status 128 + signal).
#include <string>

namespace sono {

// Installs the handlers for its lifetime and restores the previous ones after.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
};

// The signal received since the last StopSignals was installed; 0 for none.
int stop_signal();
// "SIGINT", "SIGTERM" or "signal N".
std::string signal_name(int sig);

}  // namespace sono
