#include "pipeline/skipped_numbers.h"

namespace vidinfer {

void SkippedNumbers::passed(std::optional<int64_t> pts) {
  if (held_ == 0) return;
  gaps_.push_back({pts, held_});
  held_ = 0;
}

int64_t SkippedNumbers::before(std::optional<int64_t> frame_ts) {
  int64_t n = 0;
  // A skip resumed at a packet without a timestamp cannot be placed: it goes before the next frame.
  while (!gaps_.empty() &&
         (!gaps_.front().resume_pts || (frame_ts && *frame_ts >= *gaps_.front().resume_pts))) {
    n += gaps_.front().count;
    gaps_.pop_front();
  }
  return n;
}

int64_t SkippedNumbers::flush() {
  int64_t n = held_;
  for (const Gap& g : gaps_) n += g.count;
  gaps_.clear();
  held_ = 0;
  return n;
}

}  // namespace vidinfer
