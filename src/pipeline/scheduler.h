// The Scheduler: the decode workers of one run. Each of `streams` threads takes jobs from one
// JobSource (inputs, and segments of the inputs that are split) and runs them (run_job) into the
// batcher, until none is left or the run stops; the last worker out closes the batcher's queue.
// Device-independent: the workers decode with what the context's DecoderChoiceFor gives them.
// Made and joined by the run's thread.
#pragma once

#include <memory>
#include <thread>
#include <vector>

#include "pipeline/job_runner.h"
#include "pipeline/job_source.h"

namespace vidinfer {

class Scheduler {
 public:
  // Starts the workers at once.
  Scheduler(int streams, JobSource& jobs, const std::vector<InputSource>& inputs, const JobContext& ctx);
  ~Scheduler();  // joins
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Waits for every worker thread (their last decoders may still be closing: see close_decoders).
  void join();
  // Waits for the decoders of the workers' last jobs to close (they close beside the next job's work).
  void close_decoders();
  // The workers' demux, decode and preprocess seconds, summed (after join()).
  StageTimes stage_times() const;

 private:
  std::vector<std::unique_ptr<WorkerState>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace vidinfer
