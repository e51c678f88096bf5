// VIDINFER_TRACE=1, for measuring: where the thread that runs the model spends its time, and how long
// the model's stream takes per batch on the GPU (timing events around each forward), so that a model
// slowed by the GPU's other work can be told from one starved by its host thread. Off: no events.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "preprocess/cuda_preprocess.h"

namespace vidinfer {

inline bool trace_enabled() {
  const char* v = std::getenv("VIDINFER_TRACE");
  return v && *v && std::string(v) != "0";
}

class ModelTrace {
 public:
  // stream: the model's CUDA stream (0 on the CPU: no GPU times).
  explicit ModelTrace(uintptr_t stream) : on_(trace_enabled()), stream_(stream) {
    if (on_ && stream_ && (*cuda::event_create_timed(&start_) || *cuda::event_create_timed(&end_))) stream_ = 0;
  }
  ~ModelTrace() {
    if (start_) cuda::event_destroy(start_);
    if (end_) cuda::event_destroy(end_);
  }
  ModelTrace(const ModelTrace&) = delete;
  ModelTrace& operator=(const ModelTrace&) = delete;

  bool on() const { return on_; }
  void before_forward() {
    if (on_ && stream_) cuda::event_record(start_, stream_);
  }
  void after_forward() {
    if (on_ && stream_) cuda::event_record(end_, stream_);
    pending_ = on_ && stream_;
  }
  // Once the batch's results are on the host (the stream is past the end event).
  void collect() {
    if (!pending_) return;
    float ms = 0;
    cuda::event_synchronize(end_);
    if (!*cuda::event_elapsed_ms(start_, end_, &ms)) gpu_ms += ms;
    pending_ = false;
  }

  // Host seconds: waiting for a batch, in forward (launching), checking for NaN, in the head.
  double wait = 0, forward = 0, check = 0, post = 0;
  double gpu_ms = 0;  // the model's stream, from before to after forward, summed over batches
  int64_t batches = 0, frames = 0;

  void print(const char* who) const {
    if (!on_ || !batches) return;
    const double b = static_cast<double>(batches);
    std::fprintf(stderr,
                 "vidinfer trace: %s: %lld batches, %lld frames; per batch: waiting %.2f ms, forward %.2f ms "
                 "(GPU %.2f ms), checks %.2f ms, head %.2f ms\n",
                 who, static_cast<long long>(batches), static_cast<long long>(frames), wait * 1e3 / b,
                 forward * 1e3 / b, gpu_ms / b, check * 1e3 / b, post * 1e3 / b);
  }

 private:
  bool on_;
  uintptr_t stream_;
  uintptr_t start_ = 0, end_ = 0;
  bool pending_ = false;
};

}  // namespace vidinfer
