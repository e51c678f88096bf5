#include "pipeline/skipped_numbers.h"

#include <iterator>

namespace vidinfer {

void SkippedNumbers::passed(std::optional<int64_t> pts) {
  for (const std::optional<int64_t>& s : held_) {
    if (s && pts && *s < *pts)
      placed_.insert(*s);
    else
      ++next_;
  }
  held_.clear();
}

int64_t SkippedNumbers::before(std::optional<int64_t> frame_ts) {
  int64_t n = next_;
  next_ = 0;
  if (frame_ts) {
    const auto end = placed_.lower_bound(*frame_ts);
    n += static_cast<int64_t>(std::distance(placed_.begin(), end));
    placed_.erase(placed_.begin(), end);
  }
  return n;
}

int64_t SkippedNumbers::flush() {
  const int64_t n = static_cast<int64_t>(held_.size() + placed_.size()) + next_;
  held_.clear();
  placed_.clear();
  next_ = 0;
  return n;
}

}  // namespace vidinfer
