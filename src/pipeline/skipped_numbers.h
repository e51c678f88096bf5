// The frame numbers of live packets skipped before the decoder (LiveLag), handed out only once the
// frames after the skip come out of the decoder. A decoder still holds frames whose packets it got
// before the skip (NVDEC keeps a few in its queue; B-frames wait to be reordered): those keep the
// numbers they had coming, and the skipped numbers go before the first frame of the packets after
// the skip. Written by hand: it is vidinfer's own numbering.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

namespace vidinfer {

class SkippedNumbers {
 public:
  // A packet was skipped: its frame's number is held back.
  void skipped() { ++held_; }

  // A packet went on to the decoder, with its presentation timestamp (none: unknown). The first after
  // skipped ones is where decoding resumes (a keyframe): the held-back numbers go before its frame.
  void passed(std::optional<int64_t> pts);

  // The numbers to skip before a frame that came out of the decoder with this timestamp (none:
  // unknown): those of the skips that were resumed at or before it.
  int64_t before(std::optional<int64_t> frame_ts);

  // Every number held back, for a decoder that was closed (a reconnect): its frames are all out.
  int64_t flush();

 private:
  struct Gap {
    std::optional<int64_t> resume_pts;  // the timestamp of the first packet after the skip
    int64_t count;
  };
  int64_t held_ = 0;      // skipped since the last packet passed
  std::deque<Gap> gaps_;  // skips whose resumed frame has not come out yet
};

}  // namespace vidinfer
