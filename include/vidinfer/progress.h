// A one-line progress bar on stderr, drawn only when stderr is a terminal. Redraws at most 10 times
// a second. Not thread-safe: call from one thread.
#pragma once

#include <chrono>
#include <string>

#include "vidinfer/pipeline.h"

namespace vidinfer {

class ProgressBar {
 public:
  ProgressBar();  // enabled iff stderr is a terminal
  void update(const Progress& p);
  void finish();  // clears the line
  bool enabled() const { return enabled_; }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace vidinfer
