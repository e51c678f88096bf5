// SkippedNumbers on made-up decoders that hold frames back and reorder them: every frame that comes
// out gets the number of its place in the stream, and no frame gets a skipped frame's number.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "pipeline/skipped_numbers.h"

namespace vidinfer {
namespace {

struct Packet {
  int64_t pts;  // the frame's place in the stream (frame k has pts k)
  bool skip = false;
};

// Sends the packets not skipped to a decoder that hands a frame out (the least pts it holds) once it
// holds more than `held` of them, numbers the frames as the job runner does, and returns
// (frame pts, number) in the order they came out.
std::vector<std::pair<int64_t, int64_t>> numbered(const std::vector<Packet>& packets, size_t held) {
  SkippedNumbers skipped;
  std::set<int64_t> decoder;
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t index = 0;
  const auto take = [&] {
    const int64_t ts = *decoder.begin();
    decoder.erase(decoder.begin());
    index += skipped.before(ts);
    out.emplace_back(ts, index++);
  };
  for (const Packet& p : packets) {
    if (p.skip) {
      skipped.skipped(p.pts);
      continue;
    }
    skipped.passed(p.pts);
    decoder.insert(p.pts);
    while (decoder.size() > held) take();
  }
  while (!decoder.empty()) take();
  return out;
}

// Skips the packets (decode order) from frame `from`'s up to, not including, frame `to`'s.
void skip(std::vector<Packet>& packets, int64_t from, int64_t to) {
  auto it = std::find_if(packets.begin(), packets.end(), [&](const Packet& p) { return p.pts == from; });
  ASSERT_NE(it, packets.end());
  for (; it != packets.end() && it->pts != to; ++it) it->skip = true;
}

void expect_own_numbers(const std::vector<std::pair<int64_t, int64_t>>& out, size_t frames) {
  EXPECT_EQ(out.size(), frames);
  for (const auto& [pts, number] : out) EXPECT_EQ(number, pts) << "the frame with pts " << pts;
}

// Closed GOPs of 10 in decode order I0 P3 B1 B2 P6 B4 B5 P9 B7 B8.
std::vector<Packet> closed_gops(int gops) {
  std::vector<Packet> v;
  for (int64_t g = 0; g < 10 * gops; g += 10) {
    v.push_back({g});
    for (int64_t p = g + 3; p < g + 10; p += 3)
      for (int64_t k : {p, p - 2, p - 1}) v.push_back({k});
  }
  return v;
}

TEST(SkippedNumbers, FramesTheDecoderStillHoldsKeepTheirNumbers) {
  // I and P frames only, a keyframe every 10: frames 12..19 skipped, decoding resumes at 20. A
  // decoder that holds 3 frames (as NVDEC's queue does) still has 9, 10 and 11 at the skip.
  std::vector<Packet> packets;
  for (int64_t k = 0; k < 30; ++k) packets.push_back({k, k >= 12 && k < 20});
  for (size_t held : {0, 1, 3, 6}) {
    SCOPED_TRACE(held);
    expect_own_numbers(numbered(packets, held), 22);
  }
}

TEST(SkippedNumbers, BFramesReorderedAroundTheSkipKeepTheirNumbers) {
  for (size_t held : {1, 2, 4}) {
    SCOPED_TRACE(held);
    // From P13's packet: B11 and B12, which follow it in decode order, are skipped too (11..19).
    std::vector<Packet> packets = closed_gops(4);
    skip(packets, 13, 20);
    expect_own_numbers(numbered(packets, held), 31);
    // From B11's packet: P13, sent before it, comes out after the skipped B11 and B12.
    packets = closed_gops(4);
    skip(packets, 11, 20);
    expect_own_numbers(numbered(packets, held), 32);
  }
}

TEST(SkippedNumbers, LeadingPicturesOfAnOpenGopKeepTheirNumbers) {
  // Open GOPs of 9: I9g comes before B9g-2 and B9g-1 in decode order (they are shown before it), then
  // P9g+3 B9g+1 B9g+2 P9g+6 B9g+4 B9g+5. Skipped from P21 up to I27: B25 and B26 (decoded after
  // I27, shown before it) come out after it.
  std::vector<Packet> packets;
  for (int64_t g = 0; g <= 36; g += 9) {
    packets.push_back({g});
    if (g > 0) packets.insert(packets.end(), {Packet{g - 2}, Packet{g - 1}});
    if (g < 36)
      for (int64_t p : {g + 3, g + 6}) packets.insert(packets.end(), {Packet{p}, Packet{p - 2}, Packet{p - 1}});
  }
  skip(packets, 21, 27);
  for (size_t held : {1, 2, 4}) {
    SCOPED_TRACE(held);
    expect_own_numbers(numbered(packets, held), 37 - 6);
  }
}

TEST(SkippedNumbers, TwoSkipsEachGoWhereTheyBelong) {
  std::vector<Packet> packets;
  for (int64_t k = 0; k < 40; ++k) packets.push_back({k, (k >= 5 && k < 10) || (k >= 13 && k < 30)});
  expect_own_numbers(numbered(packets, 4), 18);
}

TEST(SkippedNumbers, AClockThatJumpedBackPutsTheSkippedBeforeTheNextFrame) {
  SkippedNumbers s;
  for (int64_t k = 90; k < 95; ++k) EXPECT_EQ(s.before(k), 0);
  for (int64_t k = 95; k < 100; ++k) s.skipped(k);
  s.passed(3);  // the keyframe decoding resumed at: the stream's clock began again
  EXPECT_EQ(s.before(3), 5);
  EXPECT_EQ(s.before(4), 0);
}

TEST(SkippedNumbers, AClosedDecoderHandsOverEveryNumberNotHandedOut) {
  SkippedNumbers s;
  s.passed(0);
  s.skipped(1);
  s.skipped(2);
  s.passed(3);  // resumed, its frame not out yet
  s.skipped(4);  // skipped again when the connection was lost
  EXPECT_EQ(s.before(0), 0);
  EXPECT_EQ(s.flush(), 3);
  EXPECT_EQ(s.flush(), 0);
  EXPECT_EQ(s.before(100), 0);
}

TEST(SkippedNumbers, FramesWithoutTimestampsGoBeforeTheNextFrame) {
  SkippedNumbers s;
  s.skipped(std::nullopt);
  s.passed(std::nullopt);
  EXPECT_EQ(s.before(std::nullopt), 1);
  s.skipped(10);
  s.passed(std::nullopt);
  EXPECT_EQ(s.before(std::nullopt), 1);
  s.skipped(20);
  s.passed(50);
  EXPECT_EQ(s.before(std::nullopt), 0);  // a frame without a timestamp cannot be placed after it
  EXPECT_EQ(s.before(19), 0);
  EXPECT_EQ(s.before(21), 1);
}

}  // namespace
}  // namespace vidinfer
