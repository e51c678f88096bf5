// LiveLag (LiveOptions::max_lag) on made-up arrival times: 30 fps streams, a keyframe every 30 frames.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "pipeline/live_lag.h"

namespace vidinfer {
namespace {

constexpr double kStep = 1.0 / 30;

// The frames LiveLag skips of `n` frames, frame k read at read_at(k) with timestamp ts(k).
std::vector<int> skipped(double max_lag, int n, const std::function<double(int)>& read_at,
                         const std::function<double(int)>& ts = [](int k) { return k * kStep; }) {
  LiveLag lag(max_lag);
  std::vector<int> v;
  for (int k = 0; k < n; ++k)
    if (lag.skip(read_at(k), ts(k), k % 30 == 0)) v.push_back(k);
  return v;
}

std::vector<int> range(int from, int to) {  // [from, to)
  std::vector<int> v;
  for (int k = from; k < to; ++k) v.push_back(k);
  return v;
}

TEST(LiveLag, AStreamReadInRealTimeIsNeverSkipped) {
  // (Start at 100 s of the reader's clock and 5000 s of the stream's: only differences count.)
  EXPECT_TRUE(skipped(1.0, 600, [](int k) { return 100 + k * kStep + (k % 7) * 0.01; },
                      [](int k) { return 5000 + k * kStep; }).empty());
}

// The reader stops for 2 s after frame 44 (1.5 s), then reads what waited at once: from frame 45 it is
// 2 s behind; the keyframe at 60 (2.0 s) is still 1.5 s behind and read in a backlog, so skipping goes
// on; the one at 90 (3.0 s) is 0.5 s behind: decoding starts again there.
TEST(LiveLag, AReaderFallenBehindSkipsToTheFirstKeyframeNoLongerBehind) {
  const auto read_at = [](int k) { return k < 45 ? k * kStep : std::max(k * kStep, 3.5); };
  EXPECT_EQ(skipped(1.0, 300, read_at), range(45, 90));
  EXPECT_EQ(skipped(0.4, 300, read_at), range(45, 120));  // the one at 90 was 0.5 s behind
  EXPECT_TRUE(skipped(0, 300, read_at).empty());          // 0: never
  EXPECT_TRUE(skipped(2.5, 300, read_at).empty());        // within the bound
}

// HLS: each 2 s segment's frames come at once when the segment is out, 2 s after its first frame's
// time: every segment after the first looks 2 s late next to the burst before it, and is not.
TEST(LiveLag, SegmentsThatComeInBurstsAtTheirPaceAreNotBehind) {
  EXPECT_TRUE(skipped(1.0, 600, [](int k) { return (k / 60) * 2.0 + 2.0 + (k % 60) * 0.0005; }).empty());
  // A reconnect or a server's cached GOP sent at once at the start: read ahead, then real time.
  EXPECT_TRUE(skipped(1.0, 300, [](int k) { return k < 60 ? k * 0.001 : k * kStep - 1.9; }).empty());
}

// The stream's timestamps jump back 100 s at frame 90 (an encoder restarted on the same connection),
// its packets still coming in real time: skipped up to the next keyframe, then measured from there.
TEST(LiveLag, AJumpOfTheStreamsClockIsSkippedOverOnce) {
  EXPECT_EQ(skipped(1.0, 600, [](int k) { return k * kStep; }, [](int k) { return k * kStep - (k >= 90 ? 100 : 0); }),
            range(90, 120));
  // Forward: the packets are simply early; nothing is skipped.
  EXPECT_TRUE(skipped(1.0, 600, [](int k) { return k * kStep; }, [](int k) { return k * kStep + (k >= 90 ? 100 : 0); })
                  .empty());
}

TEST(LiveLag, ResetStartsANewConnectionsClock) {
  LiveLag lag(1.0);
  for (int k = 0; k < 30; ++k) EXPECT_FALSE(lag.skip(k * kStep, k * kStep, k % 30 == 0));
  lag.reset();  // reconnected 10 s later, its timestamps from 0 again
  for (int k = 0; k < 90; ++k) EXPECT_FALSE(lag.skip(10 + k * kStep, k * kStep, k % 30 == 0)) << k;
  EXPECT_NEAR(lag.lag(), 0.0, 1e-9);
}

}  // namespace
}  // namespace vidinfer
