// The cut choice for one input's segments (pipeline/segments.h). Expected properties come from the
// rules (lengths against R / workers, the bounds, keyframe positions), not from a run of the code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "pipeline/segments.h"

namespace vidinfer {
namespace {

constexpr double kTicks = 90000;  // a 1/90000 time base, as MPEG streams have
int64_t ticks(double seconds) { return std::llround(seconds * kTicks); }
double seconds(int64_t t) { return static_cast<double>(t) / kTicks; }
const int64_t kMin = ticks(4), kMax = ticks(120);

// Keyframes every `gop` seconds from `first`, before `duration`.
std::vector<int64_t> regular_keys(double duration, double gop, double first = 0) {
  std::vector<int64_t> keys;
  for (int i = 0; first + i * gop < duration; ++i) keys.push_back(ticks(first + i * gop));
  return keys;
}

// The segments' lengths: from the first keyframe through the cuts to the end.
std::vector<int64_t> lengths(const std::vector<int64_t>& keys, const std::vector<int64_t>& cuts, int64_t end) {
  std::vector<int64_t> out;
  int64_t at = *std::min_element(keys.begin(), keys.end());
  for (int64_t c : cuts) out.push_back(c - at), at = c;
  out.push_back(end - at);
  return out;
}

std::string describe(const std::vector<int64_t>& lens) {
  std::string s = std::to_string(lens.size()) + " segments (s):";
  char buf[32];
  for (int64_t l : lens) std::snprintf(buf, sizeof buf, " %.1f", seconds(l)), s += buf;
  return s;
}

bool any_key_in(const std::vector<int64_t>& keys, int64_t lo, int64_t hi) {
  return std::any_of(keys.begin(), keys.end(), [&](int64_t k) { return k >= lo && k <= hi; });
}

// What holds for every plan: each cut is a keyframe after the first and before the end, strictly
// increasing.
void expect_valid_cuts(const std::vector<int64_t>& keys, const std::vector<int64_t>& cuts, int64_t end) {
  const int64_t first = *std::min_element(keys.begin(), keys.end());
  for (size_t i = 0; i < cuts.size(); ++i) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), cuts[i]), keys.end()) << "cut " << i << " is not a keyframe";
    EXPECT_GT(cuts[i], first) << "cut " << i;
    EXPECT_LT(cuts[i], end) << "cut " << i;
    if (i > 0) {
      EXPECT_GT(cuts[i], cuts[i - 1]) << "cut " << i;
    }
  }
}

// The guided rule's guarantees, for any keyframes: no segment shorter than min; a segment longer than
// max or than the one before only where no keyframe allowed a shorter one; stopped only when the
// target (clamp(remaining / workers, min, max)) or every keyframe would leave less than min after it.
void expect_guided_properties(const std::vector<int64_t>& keys, int64_t end, int workers,
                              const std::vector<int64_t>& cuts) {
  expect_valid_cuts(keys, cuts, end);
  const std::vector<int64_t> lens = lengths(keys, cuts, end);
  if (!cuts.empty()) {
    for (size_t i = 0; i < lens.size(); ++i) EXPECT_GE(lens[i], kMin) << "segment " << i << "; " << describe(lens);
  }
  int64_t at = *std::min_element(keys.begin(), keys.end());
  int64_t cap = kMax;
  for (size_t i = 0; i < cuts.size(); ++i) {
    if (lens[i] > cap) {
      EXPECT_FALSE(any_key_in(keys, at + kMin, std::min(end - kMin, at + cap)))
          << "segment " << i << " is longer than " << seconds(cap) << " s though a keyframe allowed a shorter one; "
          << describe(lens);
    }
    cap = std::min(cap, lens[i]);
    at = cuts[i];
  }
  const bool target_leaves_too_little = end - at - std::clamp((end - at) / workers, kMin, kMax) < kMin;
  EXPECT_TRUE(target_leaves_too_little || !any_key_in(keys, at + kMin, end - kMin)) << "stopped early: " << describe(lens);
}

// With keyframes every `gop`: each segment but the last is within one GOP of its target,
// clamp(remaining / workers, min, max), or of the one before's length when that is smaller; the sizes
// never grow before the last; the last is below 2 min + one GOP.
void expect_guided_regular(const std::vector<int64_t>& keys, int64_t end, int workers, double gop,
                           const std::vector<int64_t>& cuts) {
  expect_guided_properties(keys, end, workers, cuts);
  const std::vector<int64_t> lens = lengths(keys, cuts, end);
  int64_t at = keys.front(), prev = kMax;
  for (size_t i = 0; i + 1 < lens.size(); ++i) {
    const int64_t target = std::min(std::clamp((end - at) / workers, kMin, kMax), prev);
    EXPECT_LE(std::llabs(lens[i] - target), ticks(gop)) << "segment " << i << "; " << describe(lens);
    EXPECT_LE(lens[i], prev) << "segment " << i << " grew; " << describe(lens);
    EXPECT_LE(lens[i], kMax) << "segment " << i;
    prev = lens[i];
    at = cuts[i];
  }
  EXPECT_LT(lens.back(), 2 * kMin + ticks(gop)) << describe(lens);
}

// Guided cuts of `duration` seconds with keyframes every `gop` for `workers`, checked with
// expect_guided_regular; the segments' lengths (printed) and the keyframes.
struct Regular {
  std::vector<int64_t> keys, lens;
  int64_t end = 0;
};
Regular guided_regular(double duration, double gop, int workers) {
  Regular r;
  r.keys = regular_keys(duration, gop);
  r.end = ticks(duration);
  const auto cuts = guided_cuts(r.keys, r.end, workers, kMin, kMax);
  r.lens = lengths(r.keys, cuts, r.end);
  std::printf("%g s, keyframes every %g s, %d workers: %s\n", duration, gop, workers, describe(r.lens).c_str());
  expect_guided_regular(r.keys, r.end, workers, gop, cuts);
  return r;
}

TEST(GuidedCuts, LongInputShrinksTowardsTheEnd) {
  // The measured case: 310 s of HEVC, keyframes every 4.6 s, 8 workers.
  const double duration = 310, gop = 4.6;
  const int workers = 8;
  const auto [keys, lens, end] = guided_regular(duration, gop, workers);
  // More segments than workers (early finishers take more), none below min.
  EXPECT_GT(lens.size(), static_cast<size_t>(workers));
  EXPECT_LE(lens.size(), static_cast<size_t>(duration / 4));
  // The first is about 1/8 of the input (nearest keyframe to 38.75 s); the sizes really decrease.
  EXPECT_NEAR(seconds(lens.front()), duration / workers, gop / 2);
  EXPECT_GT(lens.front(), 4 * lens[lens.size() - 2]);
  // What is left when every worker has taken its first segment is for the early finishers.
  int64_t first_round = 0;
  for (int i = 0; i < workers; ++i) first_round += lens[i];
  EXPECT_LT(first_round, end - keys.front() - 4 * kMin);
}

TEST(GuidedCuts, ShortInputGetsSegmentsOfAboutTheMinimum) {
  const double duration = 32, gop = 4.6;
  const int workers = 8;
  const auto lens = guided_regular(duration, gop, workers).lens;
  // 32 / 8 is the minimum: every segment is one GOP (the shortest at least 4 s), the rest at least 4 s.
  for (size_t i = 0; i + 1 < lens.size(); ++i) EXPECT_EQ(lens[i], ticks(gop)) << describe(lens);
  EXPECT_EQ(lens.size(), static_cast<size_t>((duration - 4) / gop) + 1) << describe(lens);
}

TEST(GuidedCuts, NoSegmentLongerThanTheMaximum) {
  // An hour for 2 workers: R / 2 is far above 120 s, so the first segments are capped.
  const double duration = 3600, gop = 2;
  const auto lens = guided_regular(duration, gop, 2).lens;
  EXPECT_EQ(lens.front(), kMax) << describe(lens);  // 120 s is a keyframe
  for (int64_t l : lens) EXPECT_LE(l, kMax) << describe(lens);
  EXPECT_GE(lens.size(), static_cast<size_t>(duration / 120));
}

TEST(GuidedCuts, NearestKeyframeTooCloseIsNotTaken) {
  // Target 40 / 8 -> 5 s: the keyframe at 1.5 s is nearer than the one at 9 s but leaves a 1.5 s segment.
  const std::vector<int64_t> keys = {0, ticks(1.5), ticks(9), ticks(18), ticks(27), ticks(36)};
  const int64_t end = ticks(40);
  const auto cuts = guided_cuts(keys, end, 8, kMin, kMax);
  expect_guided_properties(keys, end, 8, cuts);
  ASSERT_FALSE(cuts.empty());
  EXPECT_EQ(cuts.front(), ticks(9));
}

TEST(GuidedCuts, IrregularKeyframes) {
  std::mt19937 rng(20240611);
  std::uniform_real_distribution<double> gap(0.04, 15), length(1, 900);
  std::uniform_int_distribution<int> workers(2, 16);
  for (int run = 0; run < 300; ++run) {
    const double duration = length(rng), first = gap(rng) - 1;  // the first keyframe may be before 0 (DTS)
    std::vector<int64_t> keys;
    for (double t = first; t < duration; t += gap(rng)) keys.push_back(ticks(t));
    const int w = workers(rng);
    const int64_t end = ticks(duration);
    if (keys.empty()) {
      EXPECT_TRUE(guided_cuts(keys, end, w, kMin, kMax).empty());
      continue;
    }
    SCOPED_TRACE("run " + std::to_string(run) + ": " + std::to_string(keys.size()) + " keyframes, " +
                 std::to_string(duration) + " s, " + std::to_string(w) + " workers");
    const auto cuts = guided_cuts(keys, end, w, kMin, kMax);
    expect_guided_properties(keys, end, w, cuts);
    if (::testing::Test::HasFailure()) break;
  }
}

TEST(GuidedCuts, EdgeCases) {
  const int64_t end = ticks(60);
  EXPECT_TRUE(guided_cuts({}, end, 8, kMin, kMax).empty());
  EXPECT_TRUE(guided_cuts({0}, end, 8, kMin, kMax).empty());             // nothing to cut at
  EXPECT_TRUE(guided_cuts({ticks(5)}, end, 8, kMin, kMax).empty());
  EXPECT_TRUE(guided_cuts(regular_keys(60, 1), 0, 8, kMin, kMax).empty());  // end before the keyframes
  EXPECT_TRUE(guided_cuts(regular_keys(60, 1), end, 0, kMin, kMax).empty());
  // Shorter than 2 x min: not split, whatever the keyframes.
  EXPECT_TRUE(guided_cuts(regular_keys(7.9, 0.5), ticks(7.9), 8, kMin, kMax).empty());
  // Just over 2 x min: two segments, both at least min.
  const auto k85 = regular_keys(8.5, 0.5);
  const auto c85 = guided_cuts(k85, ticks(8.5), 8, kMin, kMax);
  EXPECT_EQ(c85.size(), 1u);
  expect_guided_properties(k85, ticks(8.5), 8, c85);
  // One worker: only the maximum length splits.
  const auto k300 = regular_keys(300, 2);
  const auto c300 = guided_cuts(k300, ticks(300), 1, kMin, kMax);
  expect_guided_properties(k300, ticks(300), 1, c300);
  const auto l300 = lengths(k300, c300, ticks(300));
  EXPECT_EQ(l300.size(), 3u) << describe(l300);  // 120 s, 120 s, then the 60 s left for the one worker
  for (int64_t l : l300) EXPECT_LE(l, kMax);
  // The order and duplicates of the keyframes do not matter.
  auto shuffled = regular_keys(310, 4.6);
  const auto sorted_cuts = guided_cuts(shuffled, ticks(310), 8, kMin, kMax);
  shuffled.insert(shuffled.end(), shuffled.begin(), shuffled.begin() + 10);
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  EXPECT_EQ(guided_cuts(shuffled, ticks(310), 8, kMin, kMax), sorted_cuts);
}

TEST(EvenCuts, EndsAtTheRealEndNotTheLastKeyframe) {
  const double duration = 310, gop = 4.6;
  const auto keys = regular_keys(duration, gop);
  const int64_t end = ticks(duration);
  const auto cuts = even_cuts(keys, end, 8);
  expect_valid_cuts(keys, cuts, end);
  ASSERT_EQ(cuts.size(), 7u);
  const auto lens = lengths(keys, cuts, end);
  std::printf("310 s, keyframes every 4.6 s, --segments 8: %s\n", describe(lens).c_str());
  // Each cut is the keyframe nearest to its even point, so every segment is within a GOP of 1/8.
  for (size_t j = 0; j < cuts.size(); ++j)
    EXPECT_LE(std::llabs(cuts[j] - ticks(duration * (j + 1) / 8)), ticks(gop / 2)) << "cut " << j;
  for (int64_t l : lens) EXPECT_NEAR(seconds(l), duration / 8, gop) << describe(lens);
  // The last segment is not just the final GOP (what cutting up to the last keyframe gave).
  EXPECT_GT(lens.back(), 2 * ticks(gop));
}

TEST(EvenCuts, FirstKeyframeBeforeZeroAndFewKeyframes) {
  // MP4 indexes hold decode timestamps, which start before 0 with B-frames.
  const auto keys = regular_keys(4, 0.4, -0.08);
  const int64_t end = ticks(4);
  for (int n : {2, 4, 9}) {
    const auto cuts = even_cuts(keys, end, n);
    expect_valid_cuts(keys, cuts, end);
    EXPECT_EQ(cuts.size(), static_cast<size_t>(n - 1)) << n;
  }
  // More segments asked for than keyframes allow: fewer, still valid.
  const std::vector<int64_t> few = {0, ticks(10), ticks(20)};
  const auto cuts = even_cuts(few, ticks(30), 10);
  expect_valid_cuts(few, cuts, ticks(30));
  EXPECT_LE(cuts.size(), 2u);
  EXPECT_FALSE(cuts.empty());
}

TEST(EvenCuts, EdgeCases) {
  const auto keys = regular_keys(60, 2);
  EXPECT_TRUE(even_cuts(keys, ticks(60), 1).empty());
  EXPECT_TRUE(even_cuts(keys, ticks(60), 0).empty());
  EXPECT_TRUE(even_cuts({}, ticks(60), 4).empty());
  EXPECT_TRUE(even_cuts({0}, ticks(60), 4).empty());
  EXPECT_TRUE(even_cuts(keys, 0, 4).empty());
  // A keyframe at or after the end is never a cut.
  const std::vector<int64_t> late = {0, ticks(30), ticks(60)};
  for (int64_t c : even_cuts(late, ticks(60), 2)) EXPECT_LT(c, ticks(60));
}

}  // namespace
}  // namespace vidinfer
