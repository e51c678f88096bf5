// The jobs of a run, handed out in input order: an input is split into keyframe-aligned segments
// when a worker takes it (planning opens the input, outside the lock, so that workers start their
// inputs at once), and its segments are handed out before the next input. Which inputs are split is
// the SegmentPolicy's decision. Thread-safe: every worker calls next().
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "demux/input_source.h"
#include "pipeline/work.h"
#include "vidinfer/options.h"

namespace vidinfer {

// Whether and how inputs are split, from the run's options.
class SegmentPolicy {
 public:
  // streams: decode workers; gpu_path: NVDEC decodes (auto mode splits only there).
  SegmentPolicy(const RunOptions& opt, int streams, bool gpu_path) : opt_(opt), streams_(streams), gpu_path_(gpu_path) {}

  // Whether an input of a run of n_inputs may be split at all, before opening it: only an input that
  // can be (InputSource::splittable), with a selection of every frame (one that counts frames from the
  // input's start, --every or --max-frames, or skips to a time, needs the frames before), and in auto
  // mode only on the GPU path with fewer inputs than streams.
  bool may_segment(const InputSource& input, size_t n_inputs) const;
  // The keyframe-aligned segments of input i (one job for the whole input when it is not split, or
  // cannot be: no index, too few keyframes, an unknown duration, or it does not open, which its job
  // then reports). --segments N: N near-equal segments. Auto: segments of decreasing size for the
  // input's workers (guided_cuts, segments.h says why), handed out in order, so that a worker that
  // finishes early takes the next, smaller one.
  std::vector<Job> plan(size_t i, const std::vector<InputSource>& inputs) const;
  // How many decoders of each of the first inputs will run at once (whose NVDEC sessions to make
  // ahead): one per input for as many inputs as there are streams; with fewer inputs, the streams
  // shared between the inputs that may be split (as next() hands them out, roughly).
  std::vector<int> sessions_per_input(const std::vector<InputSource>& inputs) const;

 private:
  const RunOptions& opt_;
  int streams_;
  bool gpu_path_;
};

class JobSource {
 public:
  // stop: no job is handed out once it is set.
  JobSource(const SegmentPolicy& policy, const std::vector<InputSource>& inputs, const std::atomic<bool>& stop)
      : policy_(policy), inputs_(inputs), stop_(stop) {}

  // The next job: a segment already planned, else the next input, planned by the calling worker;
  // nullopt when there is none left (or the run is stopping).
  std::optional<Job> next();

 private:
  const SegmentPolicy& policy_;
  const std::vector<InputSource>& inputs_;
  const std::atomic<bool>& stop_;
  std::mutex mu_;
  size_t next_input_ = 0;
  std::deque<Job> pending_;
  int planning_ = 0;            // inputs being planned by a worker (their segments not yet pending)
  std::condition_variable cv_;  // signalled when a plan is done
};

}  // namespace vidinfer
