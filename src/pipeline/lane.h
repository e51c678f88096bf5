// A lane: one Engine's part of a run. Its batch pool's events, its batcher and queue, its decode
// workers (a Scheduler) and its model thread (ModelRunner), fed by the run's one JobSource and
// committing to the run's one Reorderer. A run on one device has one lane, run on the caller's
// thread; a run on several devices (RunOptions::devices) has one per engine, each on its own thread,
// so that every device's model runs while the others' do.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "demux/input_source.h"
#include "pipeline/engine.h"
#include "pipeline/job_source.h"
#include "pipeline/reorderer.h"

namespace vidinfer {

// What the lanes of a run share.
struct LaneShared {
  const RunOptions& opt;
  JobSource& jobs;
  const std::vector<InputSource>& sources;
  const std::vector<std::string>& inputs;
  Reorderer& reorder;
  std::mutex& reorder_mu;  // held for every call into the Reorderer (and so the run's callbacks)
  std::atomic<bool>& stop;
  const std::atomic<bool>& cancelled;
  std::chrono::steady_clock::time_point t0;
  bool name_device;  // several lanes: each input's summary names the device that ran it
};

struct LaneResult {
  StageTimes stages;      // its workers' demux, decode and preprocess seconds
  int64_t frames = 0;     // through its model (decode-only runs: selected)
  double results_s = 0;   // from the run's start to its last result
};

// Runs the lane to its end (no job left, or the run stopping); `streams` decode workers. Throws what
// the model's thread threw (after unblocking its workers and joining them).
LaneResult run_lane(Engine& engine, int streams, const LaneShared& sh);

}  // namespace vidinfer
