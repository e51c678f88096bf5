// The Re-orderer: puts the model's results back in each input's frame order and makes each input's
// final summary. Segments of an input finish out of order: segment `next` is delivered as it comes,
// later segments' results wait until the segments before them are complete (their frame indices are
// then known: `offset` frames come before segment `next`). A frame whose model output holds NaN/Inf
// fails its input (the frames before it are kept); a model that fails fails every input still
// running. Device-independent. Not thread-safe: the lanes of a run call it under one mutex.
#pragma once

#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/latency_histogram.h"
#include "pipeline/work.h"
#include "vidinfer/pipeline.h"

namespace vidinfer {

class Reorderer {
 public:
  // summary: the run's (inputs sized, frames counted here); stop: set when the model fails;
  // cancelled: what an incomplete input says.
  Reorderer(const RunOptions& opt, const std::vector<std::string>& inputs, RunSummary& summary,
            const Pipeline::FrameCallback& on_frame, const Pipeline::ProgressCallback& on_progress,
            const Pipeline::InputCallback& on_input, std::atomic<bool>& stop, const std::atomic<bool>& cancelled);

  // A batch has been through the model and head: its results, in row order.
  void commit(BatchOutcome& c);
  // A job is over (after every batch holding its frames).
  void job_done(JobDone& d);
  // The batch's rows tell each input how many frames it expects (for progress).
  void expect(const Batch& b);
  // Whether the model has failed (every later batch only releases its tensor).
  bool model_failed() const { return !model_error_.empty(); }
  // At the end: the inputs not complete (never reached, or some of their segments not run).
  void finish_rest();

 private:
  struct InputState {
    int segments = 0, next = 0;
    int64_t offset = 0;
    std::map<int, std::vector<FrameResult>> held;
    std::map<int, JobDone> done;
    InputSummary merged;
    bool any_done = false, finished = false, halted = false, broken = false;
    std::string first_decoder;  // the first segment's, which the merged summary names
    double t_start = 1e300, t_end = 0, expected = 0;
    int64_t processed = 0;
    std::string error;    // the model failed on this input only (NaN/Inf)
    std::string warning;  // the out-of-memory back-off, where it happened
    LatencyHistogram latency;  // live inputs: receive to delivery
    // The earliest frame (segment, index within it) the model gave NaN/Inf for: it and every later
    // frame of the input are dropped, the frames before it kept (error says which it was).
    std::pair<int, int64_t> cut{std::numeric_limits<int>::max(), std::numeric_limits<int64_t>::max()};
    bool before_cut(int segment, int64_t index) const { return std::make_pair(segment, index) < cut; }
  };

  void progress();
  void deliver(FrameResult& r, InputState& st);
  void route(FrameResult& r, const Slot& s);
  void merge_segment(InputState& st, JobDone& x);
  void finish_input(size_t i, bool complete);

  const RunOptions& opt_;
  const std::vector<std::string>& inputs_;
  RunSummary& summary_;
  const Pipeline::FrameCallback& on_frame_;
  const Pipeline::ProgressCallback& on_progress_;
  const Pipeline::InputCallback& on_input_;
  std::atomic<bool>& stop_;
  const std::atomic<bool>& cancelled_;
  std::vector<InputState> state_;
  size_t inputs_done_ = 0;
  std::string last_input_;
  std::string model_error_;  // set once the model fails: it would fail on every input alike
};

}  // namespace vidinfer
