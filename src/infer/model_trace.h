// VIDINFER_TRACE=1, for measuring: where the thread that runs the model spends its time, and how long
// each forward takes on the model's stream (timing events around it), so that a model slowed by the
// GPU's other work can be told from one starved by its host thread. Off: no events.
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
    if (on_ && stream_)
      for (auto& e : events_)
        if (*cuda::event_create_timed(&e.start) || *cuda::event_create_timed(&e.end)) stream_ = 0;
  }
  ~ModelTrace() {
    for (auto& e : events_) {
      if (e.start) cuda::event_destroy(e.start);
      if (e.end) cuda::event_destroy(e.end);
    }
  }
  ModelTrace(const ModelTrace&) = delete;
  ModelTrace& operator=(const ModelTrace&) = delete;

  bool on() const { return on_; }
  // Around a forward; returns the slot to collect once its results are on the host. Two slots: a
  // batch's head may run after the next batch's forward is queued.
  int before_forward() {
    const int k = next_++ % 2;
    if (on_ && stream_) cuda::event_record(events_[k].start, stream_);
    return k;
  }
  void after_forward(int k) {
    if (on_ && stream_) cuda::event_record(events_[k].end, stream_);
    events_[k].pending = on_ && stream_;
  }
  void collect(int k) {
    if (!events_[k].pending) return;
    float ms = 0;
    cuda::event_synchronize(events_[k].end);
    if (!*cuda::event_elapsed_ms(events_[k].start, events_[k].end, &ms)) gpu_ms += ms;
    events_[k].pending = false;
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
  struct Pair {
    uintptr_t start = 0, end = 0;
    bool pending = false;
  } events_[2];
  int next_ = 0;
};

}  // namespace vidinfer
