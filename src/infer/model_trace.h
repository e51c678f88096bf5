// Tuning::trace >= 1, for measuring: where the thread that runs the model spends its time, and how
// long each forward takes on the model's stream (timing events around it), so that a model slowed by
// the GPU's other work can be told from one starved by its host thread. Off: no events.
// Level 2 adds the stream's timeline: the gaps between one forward's end and the next one's start on
// the GPU, split by what the next forward waited for: its launch by the host thread, or the batch's
// inputs (the decoders' preprocessing kernels it is ordered after).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/cuda.h"

namespace vidinfer {

class ModelTrace {
 public:
  // stream: the model's CUDA stream (0 on the CPU: no GPU times). level: Tuning::trace.
  ModelTrace(uintptr_t stream, int level) : on_(level > 0), timeline_(level >= 2), stream_(stream) {
    try {
      if (on_ && stream_)
        for (auto& e : events_) {
          e.start = cuda::Event::make(cuda::Event::Timing::On);
          e.end = cuda::Event::make(cuda::Event::Timing::On);
        }
      // The timeline's origin: an event that has completed when the host clock is read.
      if (timeline_ && stream_) {
        base_ = cuda::Event::make(cuda::Event::Timing::On);
        base_.record(stream_);
        base_.synchronize();
      }
    } catch (const std::exception&) {  // measuring only: without events, no GPU times
      stream_ = 0;
      timeline_ = false;
    }
    t0_ = std::chrono::steady_clock::now();
  }
  ModelTrace(const ModelTrace&) = delete;
  ModelTrace& operator=(const ModelTrace&) = delete;

  bool on() const { return on_; }
  // Around a forward; returns the slot to collect once its results are on the host. Two slots: a
  // batch's head may run after the next batch's forward is queued.
  int before_forward() {
    const int k = next_++ % 2;
    if (on_ && stream_) events_[k].start.record(stream_);
    events_[k].launch_ms = ms_since_start();
    return k;
  }
  void after_forward(int k) {
    if (on_ && stream_) events_[k].end.record(stream_);
    events_[k].pending = on_ && stream_;
  }
  void collect(int k) {
    if (!events_[k].pending) return;
    events_[k].pending = false;
    try {
      events_[k].end.synchronize();
      gpu_ms += cuda::Event::elapsed_ms(events_[k].start, events_[k].end);
      if (timeline_)
        line_.push_back({events_[k].launch_ms, cuda::Event::elapsed_ms(base_, events_[k].start),
                         cuda::Event::elapsed_ms(base_, events_[k].end)});
    } catch (const std::exception&) {  // measuring only
    }
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
    if (line_.size() < 2) return;
    // A gap ends when the next forward starts on the GPU. If its launch began after the previous
    // forward had ended, the host was late; otherwise the stream waited for the batch's inputs.
    double host_gap = 0, input_gap = 0;
    int host_n = 0, input_n = 0;
    for (size_t i = 1; i < line_.size(); ++i) {
      const double gap = line_[i].gpu_start - line_[i - 1].gpu_end;
      if (gap <= 0.02) continue;
      if (line_[i].launch > line_[i - 1].gpu_end) {
        host_gap += gap;
        ++host_n;
      } else {
        input_gap += gap;
        ++input_n;
      }
    }
    const double span = line_.back().gpu_end - line_.front().gpu_start;
    std::fprintf(stderr,
                 "vidinfer trace: %s timeline: first forward started %.1f ms, last ended %.1f ms; stream idle between "
                 "forwards %.1f ms of %.1f (host late %d times, %.1f ms; inputs not ready %d times, %.1f ms)\n",
                 who, line_.front().gpu_start, line_.back().gpu_end, host_gap + input_gap, span, host_n, host_gap,
                 input_n, input_gap);
    for (size_t i = 0; i < line_.size() && i < 12; ++i)
      std::fprintf(stderr, "vidinfer trace:   batch %zu: launched %.2f, GPU %.2f .. %.2f ms\n", i, line_[i].launch,
                   line_[i].gpu_start, line_[i].gpu_end);
  }

 private:
  double ms_since_start() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count();
  }
  bool on_, timeline_;
  uintptr_t stream_;
  cuda::Event base_;
  std::chrono::steady_clock::time_point t0_;
  struct Pair {
    cuda::Event start, end;
    double launch_ms = 0;
    bool pending = false;
  } events_[2];
  struct Mark {
    double launch, gpu_start, gpu_end;
  };
  std::vector<Mark> line_;
  int next_ = 0;
};

}  // namespace vidinfer
