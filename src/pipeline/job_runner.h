// One worker's side of the pipeline: a job (an input, or a segment of one) from open to end. It
// demuxes, decodes (the decoder DecoderChoiceFor picks), selects frames (--every, --start, --end,
// --max-frames; a segment keeps only its own frames), and preprocesses each selected frame into a
// slot the batcher hands out: the CUDA kernel into a device batch on the decoder's stream (ordered by
// the pool's events), or swscale into a host batch. The job's summary goes to the batcher after its
// last frame. Never throws: a failure is the job's summary.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "demux/input_source.h"
#include "pipeline/batcher.h"
#include "pipeline/decoder_choice.h"
#include "pipeline/device_pool.h"
#include "pipeline/work.h"
#include "preprocess/cpu_preprocessor.h"
#include "preprocess/gpu_preprocessor.h"
#include "vidinfer/options.h"

namespace vidinfer {

// What one worker thread carries from job to job. Used by that thread only.
struct WorkerState {
  int id = 0;
  CpuPreprocessor pre;
  GpuPreprocessor gpre;
  StageTimes times;
  std::thread reaper;  // closes the last job's decoder and demuxer beside the next job's work
  WorkerState(int i, const RunOptions& opt);
  ~WorkerState();
};

// What the jobs of one run share.
struct JobContext {
  const RunOptions& opt;
  const DecoderChoiceFor& decoders;
  Batcher& batcher;
  DevicePool& pool;
  std::atomic<bool>& stop;             // the workers stop at the next packet; set here on --on-error fail
  const std::atomic<bool>& cancelled;  // Pipeline::cancel() was called (what a halted job says)
  std::chrono::steady_clock::time_point run_t0;
};

// Runs `job` of `input` on worker `w`; its completion goes to ctx.batcher. A live input
// (InputSource::live) runs until it ends, LiveOptions::duration passes or the run stops; it is
// reconnected when lost (LiveOptions::reconnect), and its frames are dropped when the model is behind
// (LiveOptions::drop).
void run_job(const Job& job, const InputSource& input, WorkerState& w, const JobContext& ctx);

}  // namespace vidinfer
