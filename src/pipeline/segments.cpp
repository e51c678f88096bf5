#include "pipeline/segments.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace vidinfer {
namespace {

std::vector<int64_t> sorted_unique(std::vector<int64_t> keys) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

// The keyframe in [lo, hi] nearest to `aim` (the earlier one on a tie), or none.
std::optional<int64_t> nearest_in(const std::vector<int64_t>& keys, int64_t lo, int64_t hi, int64_t aim) {
  if (lo > hi) return std::nullopt;
  const auto first = std::lower_bound(keys.begin(), keys.end(), lo);
  const auto last = std::upper_bound(first, keys.end(), hi);
  if (first == last) return std::nullopt;
  auto it = std::lower_bound(first, last, aim);
  if (it == last || (it != first && aim - *(it - 1) <= *it - aim)) --it;
  return *it;
}

// The first keyframe in [lo, hi], or none.
std::optional<int64_t> first_in(const std::vector<int64_t>& keys, int64_t lo, int64_t hi) {
  const auto it = std::lower_bound(keys.begin(), keys.end(), lo);
  if (it == keys.end() || *it > hi) return std::nullopt;
  return *it;
}

}  // namespace

std::vector<int64_t> guided_cuts(const std::vector<int64_t>& keys_in, int64_t end, int workers, int64_t min_len,
                                 int64_t max_len) {
  std::vector<int64_t> cuts;
  const std::vector<int64_t> keys = sorted_unique(keys_in);
  if (workers < 1 || keys.empty() || end <= keys.front()) return cuts;
  min_len = std::max<int64_t>(min_len, 1);
  max_len = std::max(max_len, min_len);
  int64_t at = keys.front();
  int64_t cap = max_len;  // no segment longer than the one before, so the sizes handed out decrease
  for (;;) {
    // Cuts that leave this segment and the rest both at least min_len long.
    const int64_t lo = at + min_len, hi = end - min_len;
    if (lo > hi) break;
    const int64_t aim = at + std::clamp((end - at) / workers, min_len, max_len);
    if (aim > hi) break;  // the target leaves less than min_len (one worker): the rest is the last segment
    std::optional<int64_t> cut = nearest_in(keys, lo, std::min(hi, at + cap), aim);
    if (!cut) cut = first_in(keys, lo, hi);  // a gap between keyframes: longer than wanted
    if (!cut) break;                          // no keyframe leaves the rest min_len: it is the last segment
    cuts.push_back(*cut);
    cap = std::min(cap, *cut - at);
    at = *cut;
  }
  return cuts;
}

std::vector<int64_t> even_cuts(const std::vector<int64_t>& keys_in, int64_t end, int segments) {
  std::vector<int64_t> cuts;
  const std::vector<int64_t> keys = sorted_unique(keys_in);
  if (segments < 2 || keys.size() < 2 || end <= keys.front()) return cuts;
  const double span = static_cast<double>(end - keys.front());
  for (int j = 1; j < segments; ++j) {
    const int64_t aim = keys.front() + std::llround(span * j / segments);
    const std::optional<int64_t> cut = nearest_in(keys, keys.front() + 1, end - 1, aim);
    if (cut && (cuts.empty() || *cut > cuts.back())) cuts.push_back(*cut);
  }
  return cuts;
}

}  // namespace vidinfer
