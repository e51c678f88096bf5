// Runs batches through an Engine's model on the consumer's thread, one step behind on the host: a
// batch's forward is queued on the model stream, and only then is the previous batch's output
// checked for NaN/Inf and run through the head, on a second stream that waits for that forward. The
// head's host work and copies (the first waits for the GPU) thus overlap the next forward on the GPU,
// instead of leaving the GPU without model work for that part of every batch. On the CPU, or with
// Tuning::overlap_head off (for measuring), each batch is finished before the next.
// An out-of-memory error halves the batch once, for the rest of the run. One per run; used from the
// one thread that made it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/cuda.h"
#include "infer/model_trace.h"
#include "pipeline/device_pool.h"
#include "pipeline/engine.h"
#include "pipeline/work.h"

namespace vidinfer {

class ModelRunner {
 public:
  // model_stream: the consumer thread's current stream (ModelStream), on which forwards run.
  // workers: the decode workers whose events order a device batch's forward.
  ModelRunner(Engine& engine, const RunOptions& opt, DevicePool& pool, int workers,
              const std::vector<std::string>& inputs, uintptr_t model_stream);
  ModelRunner(const ModelRunner&) = delete;
  ModelRunner& operator=(const ModelRunner&) = delete;

  // Queues batch `seq`'s forward and finishes the batch before it (run_model false: the model has
  // failed; the batch only releases its tensor).
  void submit(uint64_t seq, Batch b, bool run_model);
  // Finishes the batch still waiting for its head (at the end, or when the consumer has nothing else).
  void flush();
  // Batch `seq`'s outcome, once finished.
  std::optional<BatchOutcome> take(uint64_t seq);
  void print_trace(double waited);

 private:
  struct Chunk {
    int off = 0, len = 0;
    torch::jit::IValue out;
    int trace_slot = 0;
  };
  struct Pending {
    uint64_t seq = 0;
    Batch batch;
    BatchOutcome d;
    std::vector<Chunk> chunks;
    const cuda::Event* forwarded = nullptr;  // recorded on the model stream after the chunks' forwards
  };
  void order_after_writers(const Batch& b);
  void hand_out(const Batch& b, const Extensions& ext);
  void forward(Pending& P, bool run_model);
  void finish(Pending& P);

  Engine& engine_;
  const RunOptions& opt_;
  DevicePool& pool_;
  int workers_;
  const std::vector<std::string>& inputs_;
  uintptr_t ms_;
  ModelTrace trace_;
  cuda::Event forwarded_[2];
  uintptr_t head_stream_ = 0;  // the heads' stream (always the same one: LibTorch's memory is pooled per stream)
  std::optional<Pending> prev_;
  std::map<uint64_t, BatchOutcome> done_;
  int model_batch_;  // frames per model call; halved once on out-of-memory
  bool backed_off_ = false;
};

}  // namespace vidinfer
