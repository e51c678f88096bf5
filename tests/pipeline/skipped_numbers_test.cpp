// SkippedNumbers on made-up decoders that hold frames back: every frame that comes out gets the
// number of its place in the stream, the skipped frames' numbers are given to none.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "pipeline/skipped_numbers.h"

namespace vidinfer {
namespace {

struct Packet {
  int64_t pts;  // the frame's place in the stream (frame k has pts k)
  bool skip;
};

// Sends the packets not skipped to a decoder that hands a frame out (the least pts it holds) once it
// holds more than `held` of them, numbers the frames as the job runner does, and returns
// frame pts -> number.
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
      skipped.skipped();
      continue;
    }
    skipped.passed(p.pts);
    decoder.insert(p.pts);
    while (decoder.size() > held) take();
  }
  while (!decoder.empty()) take();
  return out;
}

void expect_own_numbers(const std::vector<std::pair<int64_t, int64_t>>& out) {
  for (const auto& [pts, number] : out) EXPECT_EQ(number, pts) << "the frame with pts " << pts;
}

TEST(SkippedNumbers, FramesTheDecoderStillHoldsKeepTheirNumbers) {
  // I and P frames only, a keyframe every 10: frames 12..19 skipped, decoding resumes at 20. The
  // decoder holds 3 frames (as NVDEC's queue does): 9, 10 and 11 are still in it at the skip.
  std::vector<Packet> packets;
  for (int64_t k = 0; k < 30; ++k) packets.push_back({k, k >= 12 && k < 20});
  for (size_t held : {0, 1, 3, 6}) {
    SCOPED_TRACE(held);
    const auto out = numbered(packets, held);
    EXPECT_EQ(out.size(), 22u);
    expect_own_numbers(out);
  }
}

TEST(SkippedNumbers, BFramesReorderedAroundTheSkipKeepTheirNumbers) {
  // Closed GOPs of 10 in decode order I0 P3 B1 B2 P6 B4 B5 P9 B7 B8; the skip begins at P13's packet
  // (so B11 and B12, which follow it in decode order, are lost too: frames 11..19) and resumes at the
  // keyframe 20. Frame 10 comes out after the skip began, 13 after it (B-frames' reordering).
  std::vector<Packet> packets;
  for (int64_t g = 0; g < 40; g += 10) {
    packets.push_back({g, false});
    for (int64_t p = g + 3; p < g + 10; p += 3)
      for (int64_t k : {p, p - 2, p - 1}) packets.push_back({k, false});
  }
  const auto at = std::find_if(packets.begin(), packets.end(), [](const Packet& p) { return p.pts == 13; });
  for (auto it = at; it->pts != 20; ++it) it->skip = true;
  for (size_t held : {1, 2, 4}) {
    SCOPED_TRACE(held);
    const auto out = numbered(packets, held);
    EXPECT_EQ(out.size(), 31u);
    expect_own_numbers(out);
  }
}

TEST(SkippedNumbers, TwoSkipsEachGoBeforeTheirOwnResumedFrame) {
  std::vector<Packet> packets;
  for (int64_t k = 0; k < 40; ++k) packets.push_back({k, (k >= 5 && k < 10) || (k >= 13 && k < 30)});
  const auto out = numbered(packets, 4);
  EXPECT_EQ(out.size(), 18u);
  expect_own_numbers(out);
}

TEST(SkippedNumbers, AClosedDecoderHandsOverEveryNumberHeldBack) {
  SkippedNumbers s;
  s.passed(0);
  s.skipped();
  s.skipped();
  s.passed(2);  // resumed, its frame not out yet
  s.skipped();  // skipped again when the connection was lost
  EXPECT_EQ(s.before(1), 0);
  EXPECT_EQ(s.flush(), 3);
  EXPECT_EQ(s.flush(), 0);
  EXPECT_EQ(s.before(100), 0);
}

TEST(SkippedNumbers, AResumeWithoutATimestampGoesBeforeTheNextFrame) {
  SkippedNumbers s;
  s.skipped();
  s.passed(std::nullopt);
  EXPECT_EQ(s.before(std::nullopt), 1);
  s.skipped();
  s.passed(50);
  EXPECT_EQ(s.before(std::nullopt), 0);  // a frame without a timestamp cannot be placed after it
  EXPECT_EQ(s.before(49), 0);
  EXPECT_EQ(s.before(50), 1);
}

}  // namespace
}  // namespace vidinfer
