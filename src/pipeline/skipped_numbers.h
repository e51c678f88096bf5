// The frame numbers of live packets skipped before the decoder (LiveLag), handed out as the frames
// around them come out of the decoder. A live stream's frames are numbered in the order they come
// out (presentation order); a skipped frame's number is the one it would have had there, so each
// frame that comes out is numbered after the skipped frames whose timestamps are earlier than its
// own. Numbering them when they are skipped would give their numbers to frames the decoder still
// holds (NVDEC keeps a few in its queue; B-frames wait to be reordered), and a B-frame or leading
// picture of an open GOP comes out after a frame that is later than it. Written by hand: it is
// vidinfer's own numbering.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

namespace vidinfer {

class SkippedNumbers {
 public:
  // A packet was skipped, with its presentation timestamp (none: unknown).
  void skipped(std::optional<int64_t> pts) { held_.push_back(pts); }

  // A packet went on to the decoder. The first after skipped ones is where decoding resumes (a
  // keyframe): the skipped frames go where their timestamps put them among the frames that come
  // out; those without one, or with one not before the resumed keyframe's (the stream's clock
  // jumped back), before the next frame that comes out.
  void passed(std::optional<int64_t> pts);

  // How many skipped numbers go before a frame that came out of the decoder with this timestamp
  // (none: unknown): those of the skipped frames before it. The frame's number follows them.
  int64_t before(std::optional<int64_t> frame_ts);

  // Every number not handed out yet, for a decoder that was closed (a reconnect): its frames are all
  // out.
  int64_t flush();

 private:
  std::vector<std::optional<int64_t>> held_;  // skipped since the last packet passed
  std::multiset<int64_t> placed_;             // skipped frames' timestamps, by where they go
  int64_t next_ = 0;                          // skipped frames that go before the next frame
};

}  // namespace vidinfer
