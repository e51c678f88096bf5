#include "pipeline/live_lag.h"

#include <algorithm>
#include <cmath>

namespace vidinfer {

bool LiveLag::skip(double read_at, double ts, bool key) {
  if (max_lag_ <= 0) return false;
  const double offset = read_at - ts;
  if (std::isnan(base_)) {
    base_ = offset;
  } else {
    const double step = ts - prev_ts_, waited = read_at - prev_read_;
    if (step > 0 && waited >= 0.5 * step) base_ = std::min(base_, offset);  // came at the stream's pace
  }
  prev_read_ = read_at;
  prev_ts_ = ts;
  lag_ = offset - base_;
  const bool late = lag_ > max_lag_;
  if (!skipping_) {
    if (!late) return false;
    skipping_ = true;
    skip_read_ = read_at;
    skip_ts_ = ts;
    return true;
  }
  if (!key) return true;
  if (late) {
    // Skipped through faster than real time: a backlog, still behind: on to the next keyframe.
    if (ts - skip_ts_ > 1.5 * (read_at - skip_read_)) return true;
    base_ = offset;  // they came in real time: the stream's clock moved, not the reader
    lag_ = 0;
  }
  skipping_ = false;
  return false;
}

}  // namespace vidinfer
