// How far a live stream's reader is behind the stream's own pace, and whether its packets are skipped
// to catch up (LiveOptions::max_lag). Written by hand: FFmpeg drops packets or frames by type
// (AVDiscard), not by lateness. Pure arithmetic on the times it is given, so it is tested on its own.
#pragma once

#include <limits>

namespace vidinfer {

class LiveLag {
 public:
  // max_lag: seconds behind before packets are skipped; 0 never skips.
  explicit LiveLag(double max_lag) : max_lag_(max_lag) {}

  // One packet of the stream: `read_at` when this reader took it (seconds of a steady clock), `ts`
  // its decode time (seconds of the stream's clock), `key` whether decoding can start at it. True:
  // skip it (count it as a dropped frame). Once the reader is more than max_lag behind, packets are
  // skipped up to a keyframe that is no longer behind; or up to the next keyframe if the skipped
  // packets came no faster than real time (nothing is waiting: the stream's clock moved, so the
  // pace is measured again from there).
  //
  // "Behind": read_at - ts, over the least value it had for packets that came at the stream's pace
  // (the reader waited for them: read at least half their timestamp step after the packet before),
  // or over the first packet's. Packets read in a burst (a backlog, an HLS segment, a server's
  // cached GOP) do not lower it: reading ahead is not the stream's pace.
  bool skip(double read_at, double ts, bool key);

  // A new connection: its clock starts again.
  void reset() { *this = LiveLag(max_lag_); }

  // How far the last packet was behind (seconds; 0 before the first).
  double lag() const { return lag_; }

 private:
  double max_lag_;
  double base_ = std::numeric_limits<double>::quiet_NaN();  // the pace's read_at - ts
  double prev_read_ = 0, prev_ts_ = 0, lag_ = 0;
  bool skipping_ = false;
  double skip_read_ = 0, skip_ts_ = 0;  // where the skipping began
};

}  // namespace vidinfer
